import type { z } from 'zod';
import type { Path } from './positions.js';

interface LooseDef {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  getter?: () => z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: readonly z.ZodType[];
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional']);

function def(schema: z.ZodType): LooseDef {
  return (schema as unknown as { _zod: { def: LooseDef } })._zod.def;
}

/** Strips optional/default/pipe/lazy wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let node = schema;
  for (let i = 0; i < 64; i++) {
    const d = def(node);
    const inner = WRAPPERS.has(d.type)
      ? d.innerType
      : d.type === 'pipe'
        ? d.in
        : d.type === 'lazy'
          ? d.getter?.()
          : undefined;
    if (inner === undefined) return node;
    node = inner;
  }
  return node;
}

/**
 * The field names of the object schema found by following `path` into `schema` (through records,
 * arrays, unions and wrappers), for "unknown field x (did you mean y?)". Undefined when the path
 * does not lead to an object schema.
 */
export function fieldsAt(schema: z.ZodType, path: Path): string[] | undefined {
  const found = new Set<string>();
  const visit = (node: z.ZodType, rest: Path): void => {
    const d = def(unwrap(node));
    if (d.type === 'union') {
      for (const option of d.options ?? []) visit(option, rest);
      return;
    }
    if (rest.length === 0) {
      if (d.type === 'object') Object.keys(d.shape ?? {}).forEach((k) => found.add(k));
      return;
    }
    const [head, ...tail] = rest;
    if (d.type === 'object') {
      const child = d.shape?.[String(head)];
      if (child) visit(child, tail);
    } else if (d.type === 'record' && d.valueType) {
      visit(d.valueType, tail);
    } else if (d.type === 'array' && d.element) {
      visit(d.element, tail);
    }
  };
  visit(schema, path);
  return found.size > 0 ? [...found] : undefined;
}
