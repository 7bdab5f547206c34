import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deleteAt, getPath, resolvePaths, setAt, splitPath, type Json } from '../src/config/json-path.js';

const set = (doc: Json, path: string, value: Json) => {
  for (const s of resolvePaths(doc, path)) setAt(doc, s, value);
  return doc;
};
const del = (doc: Json, path: string) => {
  const found = resolvePaths(doc, path);
  for (let i = found.length - 1; i >= 0; i--) deleteAt(doc, found[i]!);
  return doc;
};

test('paths split at unescaped dots, not inside queries', () => {
  assert.deepEqual(splitPath('a.b\\.c.d'), ['a', 'b.c', 'd']);
  assert.deepEqual(splitPath('tools.#(function.name=="a.b").type'), ['tools', '#(function.name=="a.b")', 'type']);
});

test('get: keys, indexes, length, queries', () => {
  const doc = { a: { b: [10, 20, { c: 'x' }] }, tools: [{ type: 'web_search' }, { type: 'function', n: 2 }, { type: 'function', n: 3 }] } as Json;
  assert.equal(getPath(doc, 'a.b.1'), 20);
  assert.equal(getPath(doc, 'a.b.2.c'), 'x');
  assert.equal(getPath(doc, 'a.b.#'), 3);
  assert.equal(getPath(doc, 'a.missing.x'), undefined);
  assert.equal(getPath(doc, 'tools.#(type=="function").n'), 2);
  assert.equal(getPath(doc, 'tools.#(type=="function" && n>2).n'), 3);
  assert.equal(getPath(doc, 'tools.#(type%"web*").type'), 'web_search');
  assert.equal(getPath(doc, 'tools.#(type=="nope").n'), undefined);
  assert.deepEqual(resolvePaths(doc, 'tools.#(type=="function")#.n'), [['tools', 1, 'n'], ['tools', 2, 'n']]);
  assert.deepEqual(resolvePaths(doc, 'tools.#(n==2||type=="web_search")#'), [['tools', 0], ['tools', 1]]);
});

test('set creates objects and arrays as sjson does; -1 appends', () => {
  assert.deepEqual(set({}, 'a.b.c', 1), { a: { b: { c: 1 } } });
  assert.deepEqual(set({ a: [1] }, 'a.-1', 2), { a: [1, 2] });
  assert.deepEqual(set({}, 'list.0.x', true), { list: [{ x: true }] });
  assert.deepEqual(set({ a: [1] }, 'a.3', 4), { a: [1, null, null, 4] });
  assert.deepEqual(set({ m: {} }, 'm.:1', 'k'), { m: { '1': 'k' } });
  assert.deepEqual(set({ a: 'scalar' }, 'a.b', 1), { a: { b: 1 } });
  assert.deepEqual(set({ t: [{ type: 'f', s: 1 }, { type: 'g' }] }, 't.#(type=="f")#.s', 9), { t: [{ type: 'f', s: 9 }, { type: 'g' }] });
});

test('delete removes keys and array elements, queries last first', () => {
  assert.deepEqual(del({ a: 1, b: 2 }, 'a'), { b: 2 });
  assert.deepEqual(del({ a: { b: 1, c: 2 } }, 'a.b'), { a: { c: 2 } });
  assert.deepEqual(del({ a: [1, 2, 3] }, 'a.1'), { a: [1, 3] });
  assert.deepEqual(del({ t: [{ k: 'x' }, { k: 'y' }, { k: 'x' }] }, 't.#(k=="x")#'), { t: [{ k: 'y' }] });
  assert.deepEqual(del({ a: 1 }, 'nope.deeper'), { a: 1 });
});
