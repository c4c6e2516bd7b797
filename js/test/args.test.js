// Metadata: the query-string form teleport v3.0 writes and reads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Args, MetaError } from '../dist/index.js';

test('encode escapes as v3.0: letters, digits and *-._ as they are, the rest %XX upper-case', () => {
  const cases = [
    [[['k', 'v w']], 'k=v%20w'],
    [[['tilde~', '~']], 'tilde%7E=%7E'],
    [[['star*', '*-._']], 'star*=*-._'],
    [[['a b&c=d', 'x+y%z/?#\'!()']], 'a%20b%26c%3Dd=x%2By%25z%2F%3F%23%27%21%28%29'],
    [[['e', ''], ['k', 'v']], 'e&k=v'],
    [[['', 'v']], '=v'],
    [[['ключ', 'значение ✓']], '%D0%BA%D0%BB%D1%8E%D1%87=%D0%B7%D0%BD%D0%B0%D1%87%D0%B5%D0%BD%D0%B8%D0%B5%20%E2%9C%93'],
    [[['ctl', new Uint8Array([0, 1, 10, 9, 255])]], 'ctl=%00%01%0A%09%FF'],
    [[['dup', '1'], ['dup', '2']], 'dup=1&dup=2'],
    [[], ''],
  ];
  for (const [pairs, want] of cases) {
    assert.equal(new Args(pairs).toString(), want);
  }
});

test('parse takes + as a space, lower-case hex, keys alone, and skips empty pairs', () => {
  const a = Args.parse('a=x+y&b=%7e%7E&flag&&c=1=2&dup=1&dup=2');
  assert.deepEqual(Array.from(a), [
    ['a', 'x y'],
    ['b', '~~'],
    ['flag', ''],
    ['c', '1=2'],
    ['dup', '1'],
    ['dup', '2'],
  ]);
  assert.equal(a.get('dup'), '1');
  assert.deepEqual(a.getAll('dup'), ['1', '2']);
  assert.equal(a.get('none'), undefined);
  assert.equal(a.has('flag'), true);
});

test('parse refuses malformed escapes', () => {
  for (const bad of ['a=%', 'a=%4', 'a=%zz', '%g0=1', 'k=v%2']) {
    assert.throws(() => Args.parse(bad), MetaError, bad);
  }
});

test('set replaces every value in place of the first, delete removes all', () => {
  const a = new Args([['a', '1'], ['b', '2'], ['a', '3']]);
  a.set('a', 'x');
  assert.equal(a.toString(), 'a=x&b=2');
  a.set('c', 'y');
  assert.equal(a.toString(), 'a=x&b=2&c=y');
  a.delete('b');
  assert.equal(a.toString(), 'a=x&c=y');
  assert.equal(a.length, 2);
});

test('bytes round trip exactly, invalid UTF-8 included', () => {
  const raw = new Uint8Array([0xff, 0xfe, 0x41]);
  const a = new Args([[raw, raw]]);
  const b = Args.parse(a.encode());
  const [[k, v]] = Array.from(b.rawEntries());
  assert.deepEqual(k, raw);
  assert.deepEqual(v, raw);
});

test('an object or another Args initialises', () => {
  assert.equal(new Args({ x: '1', y: 'two words' }).toString(), 'x=1&y=two%20words');
  const a = new Args({ x: '1' });
  const copy = new Args(a);
  copy.set('x', '2');
  assert.equal(a.get('x'), '1');
});
