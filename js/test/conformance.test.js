// The frames teleport v3.0 wrote (test/conformance/, copied from the
// project's shared conformance set): each decodes to the values of its
// manifest line, and encodes back to the same bytes (frames with gzip: to
// a frame that decodes to the same packet, since this client writes
// complete gzip streams where v3.0 ended them with a sync flush).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { decodeFrame, encodeFrame, registerFilter, gunzip } from '../dist/index.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'conformance');

// The custom filter of xfer_custom_x and xfer_order_g_x: XOR with 0x5A.
const xor = (b) => b.map((c) => c ^ 0x5a);
registerFilter({ id: 0x78, name: 'xor-5a', onPack: xor, onUnpack: xor });

const cases = readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((line) => {
    const c = JSON.parse(line);
    // seq is a uint64: JSON numbers lose its low bits, so read it as text.
    c.seq = BigInt(/"seq":\s*(\d+)/.exec(line)[1]);
    return c;
  });

const codecId = (s) => (s === '' ? 0 : s.charCodeAt(0));
const b64 = (s) => new Uint8Array(Buffer.from(s, 'base64'));

test('the manifest lists 37 frames', () => {
  assert.equal(cases.length, 37);
});

for (const c of cases) {
  test(`conformance ${c.name}`, async () => {
    const frame = new Uint8Array(readFileSync(path.join(dir, c.file)));
    assert.equal(frame.length, c.size);
    const p = await decodeFrame(frame);
    assert.equal(p.seq, c.seq, 'seq');
    assert.equal(p.ptype, c.ptype, 'ptype');
    assert.deepEqual(p.uriBytes, b64(c.uri_b64), 'uri bytes');
    assert.equal(new TextDecoder().decode(p.meta.encode()), c.meta_raw, 'metadata written back as v3.0 wrote it');
    assert.equal(p.bodyCodec, codecId(c.body_codec), 'body codec');
    assert.equal(p.body.length, c.body_len, 'body length');
    assert.deepEqual(p.body, b64(c.body_b64), 'body');
    assert.deepEqual(p.xfer, Array.from(c.xfer_ids, (ch) => ch.charCodeAt(0)), 'filter ids');

    const again = await encodeFrame(p);
    if (!c.xfer_ids.includes('g')) {
      assert.deepEqual(again, frame, 'encoded back to the same bytes');
      return;
    }
    const q = await decodeFrame(again);
    assert.deepEqual({ ...q, meta: q.meta.toString() }, { ...p, meta: p.meta.toString() });
  });
}

test('conformance gzip frames end in a sync flush; ours are complete streams', async () => {
  const frame = new Uint8Array(readFileSync(path.join(dir, 'frames/gzip_small.bin')));
  const theirs = frame.subarray(7);
  assert.deepEqual(Array.from(theirs.subarray(-4)), [0x00, 0x00, 0xff, 0xff]);
  const p = await decodeFrame(frame);
  const ours = (await encodeFrame(p)).subarray(7);
  // A complete gzip stream: DecompressionStream('gzip') takes it whole.
  const plain = await new Response(new Blob([ours]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
  assert.deepEqual(new Uint8Array(plain), await gunzip(theirs, 1 << 20));
});
