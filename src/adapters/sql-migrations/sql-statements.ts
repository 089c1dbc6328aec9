/**
 * Splits a MySQL/MariaDB script into statements, as the `mysql` client does, so each runs on its own
 * and a failure names the statement. Pure.
 *
 * - `;` ends a statement, except inside '…', "…" and `…` (with doubled quotes and backslash escapes),
 *   and inside comments: `-- ` and `#` to the end of the line, and block comments.
 * - A line `DELIMITER //` changes the terminator (for procedures and triggers whose bodies hold `;`),
 *   exactly as in the `mysql` client; the DELIMITER line itself is not sent.
 * - A statement that is only comments is dropped; `/*! … *\/` (executable comments) count as content.
 */
export interface Statement {
  /** The text sent to the server: trimmed, without its terminator. */
  readonly text: string;
  /** 1-based line of its first character in the file. */
  readonly line: number;
}

const DELIMITER_LINE = /^[ \t]*delimiter[ \t]+(\S+)[ \t]*$/i;

export function splitStatements(sql: string): Statement[] {
  const statements: Statement[] = [];
  let delimiter = ';';
  let current = '';
  let startLine = 1;
  let line = 1;
  /** The current statement has something besides whitespace and comments. */
  let content = false;
  /** Where the statement's content starts in `current`: comments before it are not sent. */
  let startOffset = 0;
  let i = 0;
  let atLineStart = true;

  const markContent = (): void => {
    if (!content) {
      startLine = line;
      startOffset = current.length;
    }
    content = true;
  };

  const flush = (): void => {
    const text = current.slice(startOffset).trim();
    if (content && text !== '') statements.push({ text, line: startLine });
    current = '';
    content = false;
  };

  while (i < sql.length) {
    if (atLineStart) {
      const end = sql.indexOf('\n', i);
      const lineText = sql.slice(i, end === -1 ? sql.length : end).replace(/\r$/, '');
      const directive = DELIMITER_LINE.exec(lineText);
      if (directive && !content) {
        delimiter = directive[1] ?? ';';
        current = '';
        content = false;
        i = end === -1 ? sql.length : end + 1;
        line += 1;
        continue;
      }
      atLineStart = false;
    }
    const ch = sql[i] ?? '';

    if (sql.startsWith(delimiter, i)) {
      flush();
      i += delimiter.length;
      continue;
    }
    if (ch === "'" || ch === '"' || ch === '`') {
      const end = quotedEnd(sql, i, ch);
      const piece = sql.slice(i, end);
      markContent();
      current += piece;
      line += countNewlines(piece);
      i = end;
      continue;
    }
    if ((ch === '-' && sql[i + 1] === '-' && /[\s]/.test(sql[i + 2] ?? '\n')) || ch === '#') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      current += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      const end = close === -1 ? sql.length : close + 2;
      const piece = sql.slice(i, end);
      if (sql[i + 2] === '!') markContent();
      current += piece;
      line += countNewlines(piece);
      i = end;
      continue;
    }
    if (ch.trim() !== '') markContent();
    current += ch;
    if (ch === '\n') {
      line += 1;
      atLineStart = true;
    }
    i += 1;
  }
  flush();
  return statements;
}

/** Index just past the closing quote (or the end of the text when it never closes). */
function quotedEnd(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === '\\' && quote !== '`') {
      i += 2;
      continue;
    }
    if (ch === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return sql.length;
}

function countNewlines(text: string): number {
  let n = 0;
  for (const ch of text) if (ch === '\n') n += 1;
  return n;
}

/** A statement on one line, shortened, for messages. */
export function statementPreview(text: string, max = 160): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}
