/**
 * POSIX shell text for what runs on a host. Everything Lockstep puts into a remote command line is
 * quoted here, so a version, a path or an argv element is always one literal word. Pure.
 */

/** One word for a POSIX shell: left bare when it holds only safe characters, else single-quoted. */
export function quote(word: string): string {
  if (/^[A-Za-z0-9_\-+=.,/:@%]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command as shell text: an argv array is quoted word by word, a string is the user's shell text. */
export function commandText(command: string | readonly string[]): string {
  return typeof command === 'string' ? command : command.map(quote).join(' ');
}

/** `export NAME=value` lines for a script. Names are checked by the spec; values are quoted. */
export function exportLines(env: Readonly<Record<string, string>>): string {
  return Object.entries(env)
    .map(([name, value]) => `export ${name}=${quote(value)}`)
    .join('\n');
}

/** The command in one-line messages: the program for argv, the shell text (shortened) for a string. */
export function commandName(command: string | readonly string[]): string {
  if (typeof command !== 'string') return command.map(quote).join(' ');
  const oneLine = command.trim().replace(/\s+/g, ' ');
  return oneLine.length > 60 ? `${oneLine.slice(0, 59)}…` : oneLine;
}
