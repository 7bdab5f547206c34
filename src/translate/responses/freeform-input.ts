/**
 * Streams the `input` string out of a freeform tool call's JSON arguments as they arrive:
 * `{"input": "*** Begin Patch\n..."}` fragments in, decoded text out, so that a client sees
 * `response.custom_tool_call_input.delta` events as it would from OpenAI. Only the text of the
 * `input` string is decoded (escapes included, even when split across fragments); the final
 * `custom_tool_call_input.done` event always carries the input parsed from the whole arguments.
 */

/** `"input"` as a key: a quote inside a JSON string is escaped, so this cannot match inside one. */
const KEY = /"input"\s*:\s*"/;

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

export class FreeformInput {
  private seen = '';
  private state: 'seek' | 'string' | 'done' = 'seek';
  /** An escape sequence cut by a fragment boundary. */
  private pending = '';

  /** The decoded text this fragment adds to `input` ('' when none). */
  feed(fragment: string): string {
    if (this.state === 'done') return '';
    let rest = fragment;
    if (this.state === 'seek') {
      this.seen += fragment;
      const m = KEY.exec(this.seen);
      if (!m) {
        if (this.seen.length > 4096) this.state = 'done'; // not the shape we expose: no deltas
        return '';
      }
      rest = this.seen.slice(m.index + m[0].length);
      this.seen = '';
      this.state = 'string';
    }
    return this.decode(this.pending + rest);
  }

  private decode(text: string): string {
    this.pending = '';
    let out = '';
    let i = 0;
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        this.state = 'done';
        return out;
      }
      if (c !== '\\') {
        const next = text.indexOf('\\', i);
        const quote = text.indexOf('"', i);
        const stop = Math.min(next < 0 ? text.length : next, quote < 0 ? text.length : quote);
        out += text.slice(i, stop);
        i = stop;
        continue;
      }
      if (i + 1 >= text.length) {
        this.pending = text.slice(i);
        return out;
      }
      const e = text[i + 1]!;
      if (e === 'u') {
        if (i + 6 > text.length) {
          this.pending = text.slice(i);
          return out;
        }
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        out += ESCAPES[e] ?? e;
        i += 2;
      }
    }
    return out;
  }
}
