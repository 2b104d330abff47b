/**
 * Where a config file stops being JSON (RFC 8259), for an error an operator can act on: line,
 * column, the line itself with a caret, and a hint for the usual non-JSON habits (comments,
 * trailing commas, single quotes). V8's JSON.parse message gives a position only for some errors
 * ("Unexpected token '}', ... is not valid JSON" has none), so this walks the grammar itself; it
 * runs only after JSON.parse has failed.
 */

export interface JsonSyntaxError {
  line: number;
  column: number;
  /** what is wrong at that place */
  problem: string;
  /** the line, and a caret under the column */
  excerpt: string;
  /** advice for a known non-JSON habit, or "" */
  hint: string;
}

/** locateJsonError returns where `text` first breaks the JSON grammar (undefined: it does not). */
export function locateJsonError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const fail = (problem: string, at = i): never => {
    throw new Located(at, problem);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const what = () => (i >= text.length ? 'the end of the file' : JSON.stringify(text[i]));
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail(`expected a property name in double quotes, found ${what()}`);
        string();
        ws();
        if (text[i] !== ':') fail(`expected ":" after the property name, found ${what()}`);
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') return void i++;
        fail(`expected "," or "}" after a property value, found ${what()}`);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') return void i++;
        fail(`expected "," or "]" after an array element, found ${what()}`);
      }
    }
    if (c === '"') return string();
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (m && m[0] !== '-' && m[0] !== '') return void (i += m[0].length);
    for (const lit of ['true', 'false', 'null']) if (text.startsWith(lit, i)) return void (i += lit.length);
    fail(`expected a value (object, array, string, number, true, false or null), found ${what()}`);
  };
  const string = (): void => {
    const start = i;
    i++;
    while (i < text.length) {
      const ch = text.charCodeAt(i);
      if (ch === 0x22) return void i++;
      if (ch < 0x20) fail('a control character (such as a line break) inside a string; write it as \\n or \\t');
      if (ch === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('a \\u escape needs four hex digits');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail(`an invalid escape "\\${e ?? ''}" in a string`);
        i += 2;
        continue;
      }
      i++;
    }
    fail('a string that is never closed', start);
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`expected the end of the file after the top-level value, found ${what()}`);
    return undefined;
  } catch (err) {
    if (!(err instanceof Located)) throw err;
    return describe(text, err.at, err.problem);
  }
}

class Located {
  constructor(
    readonly at: number,
    readonly problem: string,
  ) {}
}

function describe(text: string, at: number, problem: string): JsonSyntaxError {
  const lines = text.split('\n');
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  // the line before too, for context (an error at a line's start is often caused by the one above);
  // tabs become single spaces so that the caret stays under its column
  const width = String(line).length;
  const show = (n: number) => {
    const raw = lines[n - 1]!.replace(/\r$/, '').replace(/\t/g, ' ');
    return `${String(n).padStart(width)} | ${raw.length > 200 ? raw.slice(0, 200) + '...' : raw}`;
  };
  const shown = line > 1 && lines[line - 2]!.trim() !== '' ? [show(line - 1), show(line)] : [show(line)];
  const excerpt = `${shown.join('\n')}\n${' '.repeat(width)} | ${' '.repeat(Math.min(column - 1, 203))}^`;
  return { line, column, problem, excerpt, hint: hintFor(text, at) };
}

function hintFor(text: string, at: number): string {
  const comments = 'comments (// and /* */) are not allowed: remove them (the README marks its commented examples as jsonc)';
  if (text.startsWith('//', at) || text.startsWith('/*', at)) return comments;
  if (text[at] === '}' || text[at] === ']') {
    let j = at - 1;
    while (j >= 0 && /\s/.test(text[j]!)) j--;
    if (text[j] === ',') return 'no comma after the last element of an object or array';
  }
  if (text[at] === "'") return 'strings and property names in double quotes';
  return hasComment(text) ? comments : '';
}

/** hasComment tells whether `//` or `/*` appears outside strings (a comment anywhere in the file). */
function hasComment(text: string): boolean {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) return true;
  }
  return false;
}
