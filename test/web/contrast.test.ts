import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The web UI's colours meet WCAG 2.2 AA: text 4.5:1 against what it sits on (1.4.3), the focus ring
 * 3:1 against the backgrounds it is drawn on (1.4.11). Read from the stylesheet itself: its custom
 * properties, every rule that sets both a text colour and a background, and the pairs where text
 * inherits its colour onto a background set elsewhere (listed below, by where they occur).
 */
const CSS_PATH = new URL('../../web/src/styles.css', import.meta.url);
const css = readFileSync(CSS_PATH, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');

interface Rule {
  selector: string;
  declarations: Map<string, string>;
}

function parseRules(text: string): Rule[] {
  const rules: Rule[] = [];
  for (const match of text.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    const declarations = new Map<string, string>();
    for (const part of (match[2] ?? '').split(';')) {
      const colon = part.indexOf(':');
      if (colon < 0) continue;
      declarations.set(part.slice(0, colon).trim(), part.slice(colon + 1).trim());
    }
    rules.push({ selector: (match[1] ?? '').trim(), declarations });
  }
  return rules;
}

const rules = parseRules(css);
const root = rules.find((r) => r.selector === ':root');
const variables = new Map([...(root?.declarations ?? [])].filter(([name]) => name.startsWith('--')));

/** A colour value as #rrggbb, resolving var(--x); undefined for what is not one opaque colour (rgba, transparent, gradients). */
function resolve(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const variable = /^var\((--[\w-]+)\)$/.exec(v)?.[1];
  if (variable !== undefined) return resolve(variables.get(variable));
  if (/^#[0-9a-f]{6}$/i.test(v)) return v.toLowerCase();
  if (/^#[0-9a-f]{3}$/i.test(v)) return `#${[...v.slice(1)].map((c) => c + c).join('')}`.toLowerCase();
  return undefined;
}

function luminance(hex: string): number {
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

function colour(name: string): string {
  const value = name.startsWith('#') ? name : resolve(`var(${name})`);
  if (value === undefined) throw new Error(`styles.css has no colour ${name}`);
  return value;
}

describe('the stylesheet’s contrast (WCAG AA)', () => {
  it('computes contrast as WCAG does', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  it('reads the custom properties of :root', () => {
    expect(variables.size).toBeGreaterThan(10);
    expect(resolve('var(--ink)')).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('gives 4.5:1 in every rule that sets both a text colour and a background', () => {
    const pairs = rules.flatMap((rule) => {
      const fg = resolve(rule.declarations.get('color'));
      const bg = resolve(rule.declarations.get('background') ?? rule.declarations.get('background-color'));
      return fg !== undefined && bg !== undefined ? [{ selector: rule.selector, fg, bg }] : [];
    });
    expect(pairs.length).toBeGreaterThan(10);
    const failing = pairs.filter((p) => contrast(p.fg, p.bg) < 4.5).map((p) => `${p.selector}: ${p.fg} on ${p.bg} = ${contrast(p.fg, p.bg).toFixed(2)}`);
    expect(failing).toEqual([]);
  });

  // Text whose colour and background come from different rules: [text, background, where].
  const INHERITED: [string, string, string][] = [
    ['--ink', '#ffffff', 'body text on the page'],
    ['--ink', '--panel', 'text in a panel'],
    ['--muted', '#ffffff', 'muted text on the page'],
    ['--muted', '--panel', 'muted text in a panel (empty states)'],
    ['--muted', '--warn-bg', 'muted text in a pending box'],
    ['--accent', '#ffffff', 'links and quiet buttons on the page'],
    ['--accent', '--panel', 'links in a panel'],
    ['--accent', '--warn-bg', 'links in a pending box'],
    ['--accent', '--run-bg', 'links in a running note, a button on hover'],
    ['--accent', '--bad-bg', 'links in an error notice'],
    ['--accent-ink', '--accent', 'the top bar'],
    ['--accent-ink', '#173b6b', 'a primary button on hover'],
    ['--ok', '#ffffff', 'the live indicator'],
    ['--bad', '#ffffff', 'a danger button, the reject summary'],
    ['--bad', '--bad-bg', 'a danger button on hover'],
    ['--ink', '#e6e9ed', 'a plain badge'],
    ['--ink', '#f1f6fd', 'an approval row of the audit log'],
    ['--warn', '--warn-bg', 'a changed row of a diff'],
    ['--run', '--run-bg', 'an added or removed row of a diff'],
  ];
  it.each(INHERITED)('gives 4.5:1 to %s on %s (%s)', (fg, bg) => {
    expect(contrast(colour(fg), colour(bg))).toBeGreaterThanOrEqual(4.5);
  });

  it('draws the focus ring at 3:1 against every background it can be drawn on', () => {
    const focusRules = rules.filter((r) => r.selector.includes(':focus') && r.declarations.has('outline'));
    const ring = (selector: string): string => {
      const outline = focusRules.find((r) => r.selector.includes(selector))?.declarations.get('outline') ?? '';
      const value = /var\(--[\w-]+\)|#[0-9a-f]{3,6}/i.exec(outline)?.[0];
      const resolved = resolve(value);
      if (resolved === undefined) throw new Error(`no focus outline colour for ${selector}`);
      return resolved;
    };
    const page = ring(':focus-visible');
    for (const bg of ['#ffffff', '--panel', '--warn-bg', '--run-bg', '--bad-bg']) expect(contrast(page, colour(bg)), bg).toBeGreaterThanOrEqual(3);
    // The top bar is the accent colour: its controls need a ring of their own that shows on it.
    const bar = ring('.top-bar');
    expect(ring('.skip-link')).toBe(bar);
    expect(contrast(bar, colour('--accent'))).toBeGreaterThanOrEqual(3);
  });
});
