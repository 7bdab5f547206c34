/**
 * Helpers for the observability tests: an upstream that reports usage as OpenAI does (a final
 * `choices: []` chunk only when `stream_options.include_usage` is asked for, `"usage":null`
 * before it), a Prometheus text parser, and reading an SSE answer.
 */
import assert from 'node:assert/strict';
import type { Handler, Recorded } from './upstream.js';
import { chunk, completion, sleep } from './upstream.js';

export const USAGE = {
  prompt_tokens: 11,
  completion_tokens: 7,
  total_tokens: 18,
  prompt_tokens_details: { cached_tokens: 4 },
  completion_tokens_details: { reasoning_tokens: 2 },
};

export interface UsageUpstreamOptions {
  /** Before the answer (non-stream) or the first chunk (stream). */
  readonly delayMs?: number;
  /** Write each event in two halves (events split across TCP chunks). */
  readonly split?: boolean;
}

/** Chat completions with usage; streams of three content chunks. */
export function usageUpstream(options: UsageUpstreamOptions = {}): Handler {
  return async (_req, res, r: Recorded) => {
    if (options.delayMs) await sleep(options.delayMs);
    if (r.json?.stream !== true) {
      const body = JSON.stringify(completion('hello there', r.json?.model, { usage: USAGE }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    const withUsage = r.json?.stream_options?.include_usage === true;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    const events = ['hel', 'lo ', 'there'].map((c, i) => ({ ...chunk(c, r.json?.model, i === 2 ? 'stop' : null), ...(withUsage ? { usage: null } : {}) }));
    if (withUsage) events.push({ ...chunk('', r.json?.model), choices: [], usage: USAGE } as unknown as (typeof events)[number]);
    for (const e of events) {
      const text = `data: ${JSON.stringify(e)}\n\n`;
      if (options.split) {
        const cut = Math.floor(text.length / 2);
        res.write(text.slice(0, cut));
        await sleep(2);
        res.write(text.slice(cut));
      } else res.write(text);
      await sleep(2);
    }
    res.end('data: [DONE]\n\n');
  };
}

/** The data payloads of an SSE answer. */
export async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split(/\r?\n\r?\n/)
    .map((e) => e.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter((d) => d !== '');
}

/** Canonical series name: `name{a="x",b="y"}` with labels sorted. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? name : `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

/** Parses the Prometheus text format strictly (every sample line must parse); series → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes "Nan").
    const value = /^nan$/i.test(m[3]!) ? NaN : Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    assert.ok(/^nan$/i.test(m[3]!) || !Number.isNaN(value), `not a number: ${line}`);
    out.set(series(m[1]!, labels), value);
  }
  return out;
}
