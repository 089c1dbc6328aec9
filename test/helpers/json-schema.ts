import { createRequire } from 'node:module';

/**
 * Ajv 8 with the JSON Schema 2020-12 dialect, and ajv-formats. The `ajv` at the top of node_modules
 * is eslint's Ajv 6 (no 2020-12); Ajv 8 is there as the one cloudevents and ajv-formats use, so it
 * is loaded from beside ajv-formats until it is a devDependency of its own.
 */
interface AjvLike {
  addSchema(schema: object): AjvLike;
  compile(schema: object): ValidateLike;
}

export interface ValidateLike {
  (data: unknown): boolean;
  errors?: unknown[] | null;
}

const require = createRequire(import.meta.url);
const besideFormats = createRequire(require.resolve('ajv-formats'));

export function ajv2020(): AjvLike {
  const Ajv2020 = (besideFormats('ajv/dist/2020') as { default: new (options: object) => AjvLike }).default;
  const addFormats = (require('ajv-formats') as { default: (ajv: AjvLike) => void }).default;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}
