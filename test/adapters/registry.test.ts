import { describe, expect, it } from 'vitest';
import type { Adapter } from '../../src/core/adapter.js';
import { commandAdapter } from '../../src/adapters/command/command-adapter.js';
import { adapterSet, builtinAdapters } from '../../src/adapters/registry.js';

function named(type: string, description = 'an adapter'): Adapter<unknown> {
  return { ...commandAdapter, type, description };
}

describe('adapter registry', () => {
  it('lists the built-in adapters by type', () => {
    const adapters = builtinAdapters();
    expect(adapters.get('command')).toBe(commandAdapter);
  });

  it('throws one error naming every problem', () => {
    let message = '';
    try {
      adapterSet([named('command'), named('Bad_Type'), named('command'), named('ssh', ' ')]);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'invalid adapter registry:',
      '  - adapter #2 ("Bad_Type"): type must be lower-case words joined by "-", such as "aws-lambda"',
      '  - adapter #3 ("command"): type "command" is registered already, by adapter #1',
      '  - adapter #4 ("ssh"): description is empty; it is shown by `lockstep schema` and in the docs',
    ]);
  });
});
