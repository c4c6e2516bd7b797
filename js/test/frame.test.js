// Framing: encoding, decoding, the stream reader, limits, filters.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Args,
  FrameError,
  FrameReader,
  GzipError,
  MIN_FRAME_SIZE,
  decodeFrame,
  encodeFrame,
  gunzip,
} from '../dist/index.js';

const packet = (over = {}) => ({
  seq: 7n,
  ptype: 1,
  uri: '/a/b?x=1',
  meta: new Args({ k: 'v' }),
  bodyCodec: 0x6a,
  body: new TextEncoder().encode('{"n":1}'),
  xfer: [],
  ...over,
});

test('a frame is laid out as the fast protocol says', async () => {
  const f = await encodeFrame(packet({ meta: new Args(), body: new Uint8Array(), bodyCodec: 0, uri: '' }));
  assert.equal(f.length, MIN_FRAME_SIZE);
  assert.deepEqual(
    Array.from(f),
    [0, 0, 0, 24, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  );
  const g = await encodeFrame(packet({ seq: 2n ** 64n - 1n }));
  const p = await decodeFrame(g);
  assert.equal(p.seq, 2n ** 64n - 1n);
  assert.equal(p.uri, '/a/b?x=1');
  assert.equal(p.meta.get('k'), 'v');
  assert.equal(new TextDecoder().decode(p.body), '{"n":1}');
});

test('the reader takes frames split across chunks and several in one chunk', async () => {
  const a = await encodeFrame(packet({ seq: 1n }));
  const b = await encodeFrame(packet({ seq: 2n }));
  const c = await encodeFrame(packet({ seq: 3n }));
  const stream = new Uint8Array([...a, ...b, ...c]);
  for (const cut of [1, 3, 5, 7, a.length, a.length + 1, stream.length]) {
    const r = new FrameReader();
    const frames = [];
    for (let i = 0; i < stream.length; i += cut) {
      frames.push(...r.push(stream.subarray(i, i + cut)));
    }
    assert.equal(frames.length, 3, `chunks of ${cut}`);
    const seqs = [];
    for (const f of frames) seqs.push((await decodeFrame(f)).seq);
    assert.deepEqual(seqs, [1n, 2n, 3n]);
    assert.equal(r.buffered, 0);
  }
});

test('the reader refuses a bad head before the rest arrives, and holds only what came', () => {
  const cases = [
    ['too-large', [0x40, 0, 0, 1, 0x66]], // 1 GiB + 1
    ['too-small', [0, 0, 0, 23, 0x66]],
    ['proto', [0, 0, 0, 30, 0x47]],
  ];
  for (const [kind, head] of cases) {
    const r = new FrameReader();
    assert.throws(
      () => r.push(new Uint8Array(head)),
      (e) => e instanceof FrameError && e.kind === kind,
      kind,
    );
  }
  const r = new FrameReader(1000);
  assert.throws(() => r.push(new Uint8Array([0, 0, 3, 233])), (e) => e.kind === 'too-large'); // 1001
  const big = new FrameReader(1 << 30);
  big.push(new Uint8Array([0x3f, 0xff, 0xff, 0xff, 0x66, 0])); // declares ~1 GiB, sends 6 bytes
  assert.equal(big.buffered, 6);
});

test('decoding refuses lengths past the end and bad escapes', async () => {
  const good = await encodeFrame(packet());
  const withUriLen = (n) => {
    const f = good.slice();
    new DataView(f.buffer).setUint32(6 + 9, n);
    return f;
  };
  await assert.rejects(decodeFrame(withUriLen(1000)), (e) => e.kind === 'truncated');
  await assert.rejects(decodeFrame(withUriLen(0xffffffff)), (e) => e.kind === 'truncated');
  await assert.rejects(decodeFrame(good.subarray(0, good.length - 1)), (e) => e.kind === 'truncated');
  const badMeta = await encodeFrame(packet({ meta: new Args({ k: 'v' }) }));
  badMeta[badMeta.lastIndexOf(0x3d) + 1] = 0x25; // 'k=%' : a broken escape
  await assert.rejects(decodeFrame(badMeta), (e) => e.kind === 'meta');
  const unknown = await encodeFrame(packet());
  await assert.rejects(encodeFrame(packet({ xfer: [0x01] })), (e) => e.kind === 'xfer');
  const withFilter = new Uint8Array([...unknown.subarray(0, 5), 1, 0x01, ...unknown.subarray(6)]);
  new DataView(withFilter.buffer).setUint32(0, withFilter.length);
  await assert.rejects(decodeFrame(withFilter), (e) => e.kind === 'xfer');
});

test('gzip round trips, outer-most first, and refuses to inflate past the limit', async () => {
  const body = new TextEncoder().encode('x'.repeat(100000));
  const f = await encodeFrame(packet({ body, xfer: [0x67, 0x67] }));
  assert.ok(f.length < 1000, `two gzip layers: ${f.length} bytes`);
  assert.deepEqual(Array.from(f.subarray(4, 8)), [0x66, 2, 0x67, 0x67]);
  const p = await decodeFrame(f);
  assert.deepEqual(p.body, body);
  await assert.rejects(decodeFrame(f, 50000), (e) => e instanceof FrameError && e.kind === 'xfer' && /size limit/.test(e.message));
  await assert.rejects(gunzip(new Uint8Array([1, 2, 3]), 100), GzipError);
});

test('gzip reads a stream ended by a sync flush, as v3.0 writes it', async () => {
  // What Go's gzip.Writer writes for "hello" with Flush and no Close.
  const syncFlushed = new Uint8Array([
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xca, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0x00,
    0xff, 0xff,
  ]);
  assert.equal(new TextDecoder().decode(await gunzip(syncFlushed, 100)), 'hello');
  await assert.rejects(gunzip(syncFlushed, 4), GzipError);
});
