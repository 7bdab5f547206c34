/** renameModel: only the top-level model changes; escapes and nested "model" keys are respected. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findTopLevelString, renameModel } from '../src/upstream/rewrite.js';

test('renames the top-level model and leaves every other byte', () => {
  const text = '{"messages":[{"content":"say \\"model\\": \\\\","model":"inner"}], "model" : "a\\"b","x":{"model":"deep"}}';
  assert.equal(renameModel(text, 'up/stream'), '{"messages":[{"content":"say \\"model\\": \\\\","model":"inner"}], "model" : "up/stream","x":{"model":"deep"}}');
  assert.deepEqual(JSON.parse(renameModel(text, 'z')).messages[0].model, 'inner');
});

test('bodies without a string model are returned unchanged', () => {
  assert.equal(renameModel('{"model":42}', 'x'), '{"model":42}');
  assert.equal(renameModel('{"messages":[]}', 'x'), '{"messages":[]}');
  assert.equal(findTopLevelString('{"a":"unterminated', 'model'), undefined);
});

test('a long conversation before the model is skipped correctly', () => {
  const long = 'x'.repeat(200_000) + '\\\\';
  const text = JSON.stringify({ messages: [{ role: 'user', content: long }], model: 'alias' });
  const out = renameModel(text, 'upstream');
  assert.equal(JSON.parse(out).model, 'upstream');
  assert.equal(JSON.parse(out).messages[0].content, long);
});
