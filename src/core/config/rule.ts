import type { ProjectConfig } from '../model.js';
import type { AdapterSet } from './config-schema.js';
import type { Finding } from './findings.js';

/** What every rule sees. `config` is a best-effort draft (see draft-config.ts): it may hold invalid parts. */
export interface RuleContext {
  config: ProjectConfig;
  adapters: AdapterSet;
  /** Components whose `with` is not a mapping (the schema reported it). */
  unusableWith: ReadonlySet<string>;
}

/** One small check over the whole config. Pure; returns every problem it finds. */
export type Rule = (ctx: RuleContext) => Finding[];
