/**
 * How Gemini stream objects go on the wire. With `?alt=sse`: one `data:` event per object,
 * `\r\n\r\n`-separated as Google sends them (some clients split on exactly that). Without: one
 * JSON array whose elements are written as they come (`[{…}`, `,\r\n{…}`, `]`), as Google serves
 * streamGenerateContent by default. An error mid-stream is the last object (or event) in the same
 * `{"error":{code,message,status}}` shape as a non-stream error, which the SDKs throw.
 */
import { ProxyError } from '../errors.js';
import type { GenerateContentResponse } from '../translate/gemini/index.js';
import { geminiErrorBody } from './errors.js';

export class GeminiFramer {
  private opened = false;
  private closed = false;

  constructor(readonly sse: boolean) {}

  private element(json: string): string {
    if (this.sse) return `data: ${json}\r\n\r\n`;
    const sep = this.opened ? ',\r\n' : '[';
    this.opened = true;
    return sep + json;
  }

  frame(objects: readonly GenerateContentResponse[]): string {
    let out = '';
    for (const o of objects) out += this.element(JSON.stringify(o));
    return out;
  }

  /** Frames what `produce` returns; a ProxyError it throws (upstream error, truncation) becomes the error element. */
  run(produce: () => readonly GenerateContentResponse[]): string {
    if (this.closed) return '';
    try {
      return this.frame(produce());
    } catch (err) {
      if (err instanceof ProxyError) return this.error(err);
      throw err;
    }
  }

  /** The final error element; nothing is framed after it. */
  readonly error = (err: ProxyError): string => {
    if (this.closed) return '';
    const out = this.element(JSON.stringify(geminiErrorBody(err)));
    this.closed = true;
    return this.sse ? out : `${out}]`;
  };

  /** What ends the stream cleanly: `]` for the array form. */
  close(): string {
    if (this.sse || this.closed) return '';
    this.closed = true;
    return this.opened ? ']' : '[]';
  }
}
