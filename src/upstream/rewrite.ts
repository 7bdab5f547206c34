/**
 * Renames the top-level `model` of a JSON object in its text, leaving every other byte as it was:
 * pass-through bodies and chunks are never re-serialised. Nested "model" keys (inside messages,
 * tools, ...) are skipped by tracking depth and string boundaries.
 */

const QUOTE = 34;
const BACKSLASH = 92;

/** End index (exclusive) of the JSON string starting at `start` (a quote). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    // indexOf runs natively: long message strings are skipped, not walked a character at a time.
    const quote = text.indexOf('"', i);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let j = quote - 1; j > start && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/** [start, end) of the string value of a top-level key, or undefined if absent / not a string. */
export function findTopLevelString(text: string, key: string): [number, number] | undefined {
  let depth = 0;
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return undefined;
      if (depth === 1 && expectKey) {
        const matches = end - i - 2 === key.length && text.startsWith(key, i + 1);
        let j = end;
        while (j < text.length && isSpace(text.charCodeAt(j))) j++;
        if (text.charCodeAt(j) !== 58 /* : */) return undefined;
        j++;
        while (j < text.length && isSpace(text.charCodeAt(j))) j++;
        if (matches) {
          if (text.charCodeAt(j) !== QUOTE) return undefined;
          const valueEnd = stringEnd(text, j);
          return valueEnd < 0 ? undefined : [j, valueEnd];
        }
        expectKey = false;
        i = j;
        continue;
      }
      i = end;
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth === 1) expectKey = c === 123;
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    } else if (c === 44 /* , */ && depth === 1) {
      expectKey = true;
    }
    i++;
  }
  return undefined;
}

/** The JSON text with its top-level `model` set to `model`; unchanged if it has none. */
export function renameModel(text: string, model: string): string {
  const span = findTopLevelString(text, 'model');
  if (!span) return text;
  return text.slice(0, span[0]) + JSON.stringify(model) + text.slice(span[1]);
}
