/**
 * User text (names, versions, release messages, YAML keys) made safe to print on one terminal line.
 * A line break in a key would forge extra lines in a message, and an escape sequence in a release
 * message could move the cursor or rewrite what is already on the screen. So every control
 * character is written as an escape: C0 (U+0000–U+001F, with \n, \r and \t by name), DEL, C1
 * (U+0080–U+009F, which some terminals read as ESC sequences), and the Unicode line and paragraph
 * separators U+2028/U+2029. A backslash is left alone: the text is for people, not a parser; JSON
 * output carries the text as it is. Pure.
 */
export function printable(text: string): string {
  return UNPRINTABLE.test(text) ? text.replace(UNPRINTABLE_ALL, escapeOne) : text;
}

/**
 * As printable, but keeps colour: SGR sequences (`ESC [ … m`), which only change the colour of
 * what follows. For the output of the user's own commands (step log lines), where colour is often
 * meant; anything that moves the cursor, clears the screen or sets a title is still escaped.
 */
export function printableKeepingColour(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  let out = '';
  let last = 0;
  for (const match of text.matchAll(SGR)) {
    out += printable(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + printable(text.slice(last));
}

/**
 * Text of several lines from a trusted shape with untrusted parts (an adapter's plan details, an
 * error message quoting a name or a command's output), made safe line by line: its line breaks and
 * tabs stay, colour stays, and every other control character is escaped, so no part of it can move
 * the cursor, return to the start of a line or clear the screen.
 */
export function printableLines(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  return text
    .split('\n')
    .map((line) => line.split('\t').map(printableKeepingColour).join('\t'))
    .join('\n');
}

/** Whether text holds a control character, a line break or a separator that printable escapes. */
export function hasControlCharacter(text: string): boolean {
  return UNPRINTABLE.test(text);
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
// eslint-disable-next-line no-control-regex
const UNPRINTABLE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// eslint-disable-next-line no-control-regex
const SGR = /\u001b\[[0-9;]*m/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
