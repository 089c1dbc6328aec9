/** The Clock port: the engine never reads the time any other way, so tests can drive it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
