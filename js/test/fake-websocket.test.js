// The client over a WebSocket implementation of the test's own: messages
// cut anywhere, several frames in one, data that is not binary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Args, Client, Code, Rerror, decodeFrame, encodeFrame } from '../dist/index.js';

/** FakeWS is a WebSocket whose server side is the test: sent frames go to onSend. */
class FakeWS {
  static last;
  binaryType = 'blob';
  readyState = 0;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  sent = [];
  closed;
  constructor(url) {
    this.url = url;
    FakeWS.last = this;
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(data) {
    this.sent.push(data);
    this.onSend?.(data);
  }
  close(code, reason) {
    this.closed = { code, reason };
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? '' }));
  }
  deliver(data) {
    this.onmessage?.({ data });
  }
}

async function open(t, options = {}) {
  const c = new Client('ws://fake/tp', { WebSocket: FakeWS, reconnect: false, ...options });
  t.after(() => c.close());
  await c.ready({ timeout: 1000 });
  return { c, ws: FakeWS.last };
}

const reply = (seq, body) =>
  encodeFrame({ seq, ptype: 2, uri: '/x', meta: new Args(), bodyCodec: 0x6a, body: new TextEncoder().encode(JSON.stringify(body)), xfer: [] });

test('the client asks for binary data as ArrayBuffers and sends one frame per message', async (t) => {
  const { c, ws } = await open(t);
  assert.equal(ws.binaryType, 'arraybuffer');
  await c.push('/a', 1);
  await c.push('/b', 'two', { xfer: ['gzip'] });
  assert.equal(ws.sent.length, 2);
  for (const m of ws.sent) {
    assert.equal(new DataView(m.buffer, m.byteOffset).getUint32(0), m.length);
  }
  assert.equal((await decodeFrame(ws.sent[1])).uri, '/b');
});

test('replies cut across messages, and several in one message, complete their pulls', async (t) => {
  const { c, ws } = await open(t);
  ws.onSend = async () => {
    if (ws.sent.length < 3) return;
    const seqs = await Promise.all(ws.sent.map(async (m) => (await decodeFrame(m)).seq));
    const frames = await Promise.all(seqs.map((s, i) => reply(s, i * 10)));
    const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      stream.set(f, at);
      at += f.length;
    }
    // Cut into pieces of 7 bytes (frame edges fall anywhere), then the rest in one.
    for (let i = 0; i < 21; i += 7) ws.deliver(stream.slice(i, i + 7).buffer);
    ws.deliver(stream.slice(21).buffer);
  };
  const results = await Promise.all([c.pull('/x', 1), c.pull('/x', 2), c.pull('/x', 3)]);
  assert.deepEqual(
    results.map((r) => r.reply),
    [0, 10, 20],
  );
});

test('data that is not binary closes the connection (4400) and tells onError', async (t) => {
  for (const data of [new Blob([new Uint8Array([1, 2])]), 'text', 42]) {
    const errors = [];
    const { c, ws } = await open(t, { onError: (e) => errors.push(e) });
    const p = c.pull('/x', 1, { timeout: 1000 });
    ws.deliver(data);
    await assert.rejects(p, (e) => e instanceof Rerror && e.code === Code.ConnClosed);
    assert.equal(ws.closed.code, 4400);
    assert.equal(errors.length, 1);
  }
});
