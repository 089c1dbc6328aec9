import { Ajv2020 } from 'ajv/dist/2020.js';
import * as formats from 'ajv-formats';

/** Ajv 8 with the JSON Schema 2020-12 dialect (the CDEvents schemas' own) and ajv-formats' formats. */
export type ValidateLike = ReturnType<Ajv2020['compile']>;

type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS with `exports.default`: Node's ES module loader puts the module's exports on
// `default`, a bundler may put the function there itself.
const loaded = formats as unknown as { default: FormatsPlugin | { default: FormatsPlugin } };
const addFormats: FormatsPlugin = typeof loaded.default === 'function' ? loaded.default : loaded.default.default;

export function ajv2020(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}
