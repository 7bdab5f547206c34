/**
 * CLI Proxy API's own example sections (payload, streaming, openai-compatibility with every
 * switch), uncommented, load here and are no longer reported as unused; our example config with
 * its commented blocks uncommented loads too.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.js';
import { PayloadRules } from '../src/routing/payload.js';

const CPA_SECTIONS = `
force-model-prefix: false
passthrough-headers: false
nonstream-keepalive-interval: 0
streaming:
  keepalive-seconds: 15
  bootstrap-retries: 1
openai-compatibility:
  - name: "openrouter"
    disabled: false
    prefix: "test"
    base-url: "https://openrouter.ai/api/v1"
    support-prompt-cache-key: false
    disable-cooling: false
    request-retry: 3
    request-scoped-errors:
      - status: 400
        match:
          - "maximum_context_length"
          - "context_length_exceeded"
        match-regexr:
          - "maximum_context_length$"
          - "^context_length_exceeded"
        action: "stop"
    headers:
      X-Custom-Header: "custom-value"
      X-Claude-Code-Session-Id: "$ABC"
    api-key-entries:
      - api-key: "sk-or-v1-...b780"
        weight: 5
        proxy-url: "socks5://proxy.example.com:1080"
      - api-key: "sk-or-v1-...b781"
    models:
      - name: "moonshotai/kimi-k2:free"
        alias: "kimi-k2"
        display-name: "Kimi K2"
        max-context-length: 1048576
        image: false
        input-modalities: [text, image]
        output-modalities: [text]
        is-compat: false
        thinking:
          levels: ["low", "medium", "high"]
payload:
  default:
    - models:
        - name: "gemini-2.5-pro"
          protocol: "gemini"
          from-protocol: "responses"
          headers:
            X-Client-Tier: "tenant-*-region-*"
          match:
            - "metadata.client": "codex"
          not-match:
            - "metadata.mode": "dev"
          exist:
            - "tools.#(type==\\"web_search\\").type"
          not-exist:
            - "metadata.disable_payload"
      params:
        "generationConfig.thinkingConfig.thinkingBudget": 32768
  default-raw:
    - models:
        - name: "gemini-2.5-pro"
          protocol: "gemini"
      params:
        "generationConfig.responseJsonSchema": "{\\"type\\":\\"object\\",\\"properties\\":{\\"answer\\":{\\"type\\":\\"string\\"}}}"
  override:
    - models:
        - name: "gpt-5.4-fast"
          protocol: "codex"
      params:
        service_tier: priority
  override-raw:
    - models:
        - name: "gpt-*"
          protocol: "codex"
      params:
        "response_format": "{\\"type\\":\\"json_schema\\",\\"json_schema\\":{\\"name\\":\\"answer\\",\\"schema\\":{\\"type\\":\\"object\\"}}}"
  filter:
    - models:
        - name: "gemini-2.5-pro"
          protocol: "gemini"
      params:
        - "generationConfig.thinkingConfig.thinkingBudget"
        - "generationConfig.responseJsonSchema"
`;

test("CLI Proxy API's payload, streaming and provider sections load and count as used", () => {
  const loaded = parseConfig(CPA_SECTIONS);
  assert.deepEqual(loaded.unusedKeys, []);
  const p = loaded.config['openai-compatibility'][0]!;
  assert.equal(p['request-retry'], 3);
  assert.equal(p['request-scoped-errors']![0]!.action, 'stop');
  assert.deepEqual(p.models![0]!.thinking, { levels: ['low', 'medium', 'high'] });
  assert.equal(loaded.config.streaming?.['bootstrap-retries'], 1);
  assert.ok(PayloadRules.compile(loaded.config.payload));
});

test('invalid raw JSON and unknown actions are config errors that name the key', () => {
  assert.throws(() => parseConfig('payload:\n  override-raw:\n    - models: [{name: "x"}]\n      params:\n        a: "{not json"\n'), /payload\.override-raw\[0\]\.params\.a: expected valid JSON text/);
  assert.throws(
    () => parseConfig('openai-compatibility:\n  - name: p\n    base-url: http://x/v1\n    request-scoped-errors:\n      - status: 400\n        match: [a]\n        action: retry\n'),
    /request-scoped-errors\[0\]\.action: expected stop, stop-and-cooldown, continue or continue-and-cooldown/,
  );
});

test('config.example.yaml with its parity blocks uncommented loads', async () => {
  const text = await readFile(new URL('../config.example.yaml', import.meta.url), 'utf8');
  const start = text.indexOf('# force-model-prefix: false');
  const end = text.indexOf('# Never cool a failing key down');
  const block = text
    .slice(start, end)
    .split('\n')
    // Commented-out YAML: a top-level key of ours, or an indented line; prose has one space.
    .filter((l) => /^# (force-model-prefix|passthrough-headers|streaming|payload):/.test(l) || /^# {2}/.test(l))
    .map((l) => l.slice(2))
    .join('\n');
  const loaded = parseConfig(`${text.slice(0, start)}${block}\n${text.slice(end)}`);
  assert.equal(loaded.config['force-model-prefix'], false);
  assert.equal(loaded.config.streaming?.['keepalive-seconds'], 15);
  assert.equal(loaded.config.payload?.filter?.[0]?.params.length, 2);
});
