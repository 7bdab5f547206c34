/**
 * One saturation scenario per client API cliproxy serves, against the same chat-format mock: the
 * Anthropic, Responses and Gemini endpoints translate to chat completions and back, so next to
 * plain chat completions their req/s and CPU per request show what the translation costs.
 * Interleaved rounds, rotated order, like the main phases; every answer is checked for its API's shape.
 */
import { treeCpuMs } from './procs.mjs';

const PROMPT = 'Write one paragraph about foxes and dogs, for a benchmark.';

/** Each API's request, and a substring its (compact JSON) answer must contain. */
export function apiScenarios(root, key, model, chatBody) {
  return [
    {
      name: 'chat completions',
      url: `${root}/v1/chat/completions`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: chatBody,
      expect: '"chat.completion"',
    },
    {
      name: 'anthropic messages',
      url: `${root}/v1/messages`,
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model, max_tokens: 256, system: 'You are a helpful assistant. Answer briefly.', messages: [{ role: 'user', content: PROMPT }] }),
      expect: '"type":"message"',
    },
    {
      name: 'responses',
      url: `${root}/v1/responses`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      // store: false, so that the run measures translation rather than filling the response store.
      body: JSON.stringify({ model, instructions: 'You are a helpful assistant. Answer briefly.', input: PROMPT, max_output_tokens: 256, store: false }),
      expect: '"object":"response"',
    },
    {
      name: 'gemini generateContent',
      url: `${root}/v1beta/models/${model}:generateContent`,
      headers: { 'content-type': 'application/json', 'x-goog-api-key': key },
      body: JSON.stringify({
        systemInstruction: { parts: [{ text: 'You are a helpful assistant. Answer briefly.' }] },
        contents: [{ role: 'user', parts: [{ text: PROMPT }] }],
        generationConfig: { maxOutputTokens: 256 },
      }),
      expect: '"candidates"',
    },
  ];
}

/** Runs every scenario against cliproxy for `rounds` interleaved rounds of `seconds` each. */
export async function runApiScenarios({ driver, pid, scenarios, rounds, seconds, connections, log }) {
  const acc = Object.fromEntries(scenarios.map((s) => [s.name, { ok: 0, failures: 0, seconds: 0, cpuMs: 0, rounds: [] }]));
  for (const s of scenarios) {
    const warm = await driver.run({ type: 'saturate', url: s.url, headers: s.headers, body: s.body, expect: s.expect, connections, seconds: 0.5, timeoutMs: 10_000 }, 60_000);
    if (warm.tally.ok === 0) throw new Error(`${s.name}: no good answer (${JSON.stringify(warm.tally)})`);
  }
  for (let round = 0; round < rounds; round++) {
    const cells = [];
    for (let i = 0; i < scenarios.length; i++) {
      const s = scenarios[(i + round) % scenarios.length];
      const cpu0 = treeCpuMs(pid);
      const r = await driver.run({ type: 'saturate', url: s.url, headers: s.headers, body: s.body, expect: s.expect, connections, seconds, timeoutMs: 10_000 }, seconds * 1000 + 60_000);
      const cpuMs = treeCpuMs(pid) - cpu0;
      const a = acc[s.name];
      const failures = r.tally.non2xx + r.tally.errors + r.tally.bad;
      a.ok += r.tally.ok;
      a.failures += failures;
      a.seconds += r.seconds;
      a.cpuMs += cpuMs;
      a.rounds.push(r.tally.ok / r.seconds);
      cells.push(`${s.name} ${Math.round(r.tally.ok / r.seconds)}/s`);
    }
    log(`  round ${round + 1}/${rounds} apis     ${cells.join(', ')}`);
  }
  return scenarios.map((s) => {
    const a = acc[s.name];
    return { name: s.name, reqPerSec: a.ok / a.seconds, cpuUsPerRequest: (a.cpuMs * 1000) / Math.max(1, a.ok), failures: a.failures, roundReqPerSec: a.rounds };
  });
}

export function renderApis(results, connections) {
  const chat = results[0];
  const lines = [`Client APIs through cliproxy, non-stream saturation (${connections} connections); the mock speaks chat completions, so the others include translation both ways`];
  lines.push('API                     req/s  × chat  CPU µs/req  failures', '----------------------  -----  ------  ----------  --------');
  for (const r of results) {
    lines.push(
      [r.name.padEnd(22), String(Math.round(r.reqPerSec)).padStart(5), (r.reqPerSec / chat.reqPerSec).toFixed(2).padStart(6), String(Math.round(r.cpuUsPerRequest)).padStart(10), String(r.failures).padStart(8)].join('  '),
    );
  }
  return lines.join('\n');
}
