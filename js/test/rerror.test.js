// Rerror and the X-Reply-Error metadata, including v3.0's not-quite-JSON.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Args, Code, Rerror } from '../dist/index.js';

test('a Rerror is an Error with a code, a message and a detail', () => {
  const r = new Rerror(Code.NotFound, undefined, '/a/b');
  assert.ok(r instanceof Error);
  assert.equal(r.message, 'Not Found');
  assert.equal(String(r), 'rerror 404: Not Found: /a/b');
  assert.deepEqual(r.toJSON(), { code: 404, message: 'Not Found', detail: '/a/b' });
  assert.deepEqual(new Rerror(499).toJSON(), { code: 499 });
});

test('fromMeta reads valid JSON', () => {
  const meta = Args.parse('X-Reply-Error=%7B%22code%22%3A404%2C%22message%22%3A%22Not%20Found%22%7D');
  const r = Rerror.fromMeta(meta);
  assert.equal(r.code, 404);
  assert.equal(r.message, 'Not Found');
  assert.equal(r.detail, '');
  assert.equal(Rerror.fromMeta(new Args({ other: 'x' })), undefined);
});

test('fromMeta recovers code, message and detail from v3.0 text that escapes only quotes', () => {
  // reply_error_api_tricky: a backslash, a newline and a tab left raw.
  const meta = Args.parse(
    'X-Reply-Error=%7B%22code%22%3A500%2C%22message%22%3A%22say%20%5C%22hi%5C%22%20%3Cb%3E%26%22%2C%22detail%22%3A%22C%3A%5Cdir%5Cfile%0Aline2%09tab%20%C3%A9%22%7D',
  );
  const r = Rerror.fromMeta(meta);
  assert.equal(r.code, 500);
  assert.equal(r.message, 'say "hi" <b>&');
  assert.equal(r.detail, 'C:\\dir\\file\nline2\ttab é');
});

test('fromMeta makes a BadPacket error of metadata without a code', () => {
  const r = Rerror.fromMeta(new Args({ 'X-Reply-Error': 'not json at all' }));
  assert.equal(r.code, Code.BadPacket);
  assert.match(r.detail, /not json at all/);
});
