import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetToLevel, clampLevel, effortFor, parseThinkingValue, splitSuffix } from '../src/routing/thinking.js';

test('suffixes split at the last parenthesis and parse as CLI Proxy API reads them', () => {
  assert.deepEqual(splitSuffix('gpt-5(high)'), { base: 'gpt-5', raw: 'high' });
  assert.deepEqual(splitSuffix('a(b)(8192)'), { base: 'a(b)', raw: '8192' });
  assert.equal(splitSuffix('gpt-5'), undefined);
  assert.equal(splitSuffix('(high)'), undefined);
  assert.deepEqual(parseThinkingValue('HIGH'), { mode: 'level', level: 'high' });
  assert.deepEqual(parseThinkingValue('0'), { mode: 'none' });
  assert.deepEqual(parseThinkingValue('-1'), { mode: 'auto' });
  assert.deepEqual(parseThinkingValue('16384'), { mode: 'budget', budget: 16384 });
  assert.equal(parseThinkingValue('ultra'), undefined);
  assert.equal(parseThinkingValue('-5'), undefined);
});

test('budgets map at 512 / 1024 / 8192 / 24576; levels clamp to the nearest, ties downward', () => {
  assert.deepEqual([1, 512, 513, 1024, 1025, 8192, 8193, 24576, 24577].map(budgetToLevel), ['minimal', 'minimal', 'low', 'low', 'medium', 'medium', 'high', 'high', 'xhigh']);
  assert.equal(clampLevel('xhigh', ['low', 'medium', 'high']), 'high');
  assert.equal(clampLevel('minimal', ['low', 'high']), 'low');
  assert.equal(clampLevel('medium', ['low', 'high']), 'low', 'equal distance: the lower level');
  assert.equal(clampLevel('max', ['minimal']), 'minimal');
  assert.equal(effortFor({ mode: 'none' }, ['none', 'low']), 'none');
  assert.equal(effortFor({ mode: 'none' }, ['low', 'high']), 'low');
  assert.equal(effortFor({ mode: 'auto' }, ['auto', 'low']), 'auto');
  assert.equal(effortFor({ mode: 'auto' }, ['high']), 'high');
  assert.equal(effortFor({ mode: 'budget', budget: 30000 }, ['low', 'medium', 'high', 'xhigh']), 'xhigh');
  assert.equal(effortFor({ mode: 'level', level: 'high' }, []), undefined);
});
