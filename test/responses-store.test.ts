/** The stored-responses cache: chains, owners, count/byte limits, TTL of disuse. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseStore } from '../src/server/responses-store.js';
import type { ResponseObject } from '../src/translate/responses/types.js';

function response(id: string, text: string): ResponseObject {
  return { id, output: [{ id: `msg_${id}`, type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [], logprobs: [] }] }] } as unknown as ResponseObject;
}
const user = (text: string) => ({ role: 'user', content: text });

test('history follows previous_response_id links, oldest first, per owner', () => {
  const store = new ResponseStore();
  store.put('a', response('r1', 'one'), [user('q1')]);
  store.put('a', response('r2', 'two'), [user('q2')], 'r1');
  const items = store.history('a', 'r2')!;
  assert.deepEqual(items.map((i: any) => i.content?.[0]?.text ?? i.content), ['q1', 'one', 'q2', 'two']);
  assert.equal(store.history('b', 'r2'), undefined, "another key's responses are not visible");
  assert.equal(store.get('b', 'r1'), undefined);
  assert.equal(store.delete('b', 'r1'), false);
  assert.equal(store.delete('a', 'r1'), true);
  assert.equal(store.history('a', 'r2'), undefined, 'a broken chain is not a partial conversation');
});

test('count and byte limits evict the least recently used', () => {
  const store = new ResponseStore({ maxEntries: 3, maxBytes: 10_000, ttlMs: 60_000 });
  for (const id of ['r1', 'r2', 'r3']) store.put('', response(id, id), []);
  store.get('', 'r1'); // used: r2 is now the oldest
  store.put('', response('r4', 'r4'), []);
  assert.deepEqual(['r1', 'r2', 'r3', 'r4'].map((id) => store.get('', id) !== undefined), [true, false, true, true]);
  const big = 'x'.repeat(4_000);
  store.put('', response('r5', big), []);
  store.put('', response('r6', big), []);
  assert.ok(store.totalBytes <= 10_000, `${store.totalBytes} bytes`);
  assert.ok(store.get('', 'r6'));
  assert.equal(store.put('', response('huge', 'x'.repeat(20_000)), []), false, 'larger than the whole store: not kept');
});

test('entries expire after the TTL of disuse; each use renews it', () => {
  let now = 0;
  const store = new ResponseStore({ maxEntries: 10, maxBytes: 1e6, ttlMs: 1000 }, () => now);
  store.put('', response('r1', 'a'), []);
  store.put('', response('r2', 'b'), []);
  now = 900;
  assert.ok(store.get('', 'r1'));
  now = 1500;
  assert.ok(store.get('', 'r1'), 'renewed at 900');
  assert.equal(store.get('', 'r2'), undefined, 'expired at 1000');
  assert.equal(store.size, 1);
});
