// Streams the client opens to a Go peer (internal/jspeer's Talk routes).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, Code, Rerror, CODE_CANCELED } from '../dist/index.js';
import { startPeer } from './jspeer.mjs';

let peer;
before(async () => {
  peer = await startPeer();
});
after(async () => {
  await peer.stop();
});

async function connect(t) {
  const c = new Client(peer.url, { WebSocket });
  t.after(() => c.close());
  await c.ready({ timeout: 5000 });
  return c;
}

test('stream: messages both ways, the header, and the end', async (t) => {
  const c = await connect(t);
  const st = await c.openStream('/talk/echo', 're:');
  await st.accepted;
  for (let i = 0; i < 20; i++) {
    await st.send(i);
    const r = await st.recv();
    assert.equal(r.value, `re:${i}`);
  }
  assert.equal(st.header.get('who'), 'go');
  st.closeSend();
  assert.deepEqual(await st.recv(), { value: undefined, done: true });
  await st.ended;
});

test('stream: the server streams to a for-await loop, with credit', async (t) => {
  const c = await connect(t);
  // A window of 1 KiB: the server must wait for credit many times.
  const st = await c.openStream('/talk/count', 3000, { window: 1024 });
  let want = 0;
  for await (const n of st) {
    assert.equal(n, want++);
  }
  assert.equal(want, 3000);
});

test('stream: an unknown route, and a handler error, reach the client', async (t) => {
  const c = await connect(t);
  const st = await c.openStream('/talk/nowhere', 1);
  await assert.rejects(st.recv(), (err) => err instanceof Rerror && err.code === Code.NotFound);
  const ctl = new AbortController();
  const held = await c.openStream('/talk/hold', 1, { signal: ctl.signal });
  await held.accepted;
  ctl.abort();
  await assert.rejects(held.recv(), (err) => err instanceof Rerror && err.code === Code.HandleTimeout);
  await peer.waitLine(/^stream hold ended: context canceled$/, 3000);
});

test('stream: close cancels the Go handler; the connection closing ends the stream', async (t) => {
  const c = await connect(t);
  const held = await c.openStream('/talk/hold', 1);
  await held.accepted;
  held.close();
  await assert.rejects(held.recv(), (err) => err instanceof Rerror && err.code === CODE_CANCELED);
  const again = await c.openStream('/talk/hold', 1);
  await again.accepted;
  await c.close();
  await assert.rejects(again.recv(), (err) => err instanceof Rerror && err.code === Code.ConnClosed);
});

test('stream: the Go server opens a stream to a handler of the client', async (t) => {
  const c = await connect(t);
  c.handleStream('/page/echo', async (st) => {
    assert.equal(st.args, 'from go');
    assert.equal(st.header.get('from'), 'go server');
    st.replyHeader.set('who', 'js');
    for await (const n of st) await st.send(`js:${n}`);
  });
  c.handleStream('/page/fail', async () => {
    throw new Rerror(418, 'Teapot', 'no');
  });
  const r = await c.pull('/ctrl/stream', { uri: '/page/echo', n: 5 });
  assert.deepEqual(r.reply, ['js:0', 'js:1', 'js:2', 'js:3', 'js:4', 'who=js']);
  await assert.rejects(c.pull('/ctrl/stream', { uri: '/page/fail', n: 1 }), (err) => err instanceof Rerror && err.code === 418);
  await assert.rejects(c.pull('/ctrl/stream', { uri: '/page/none', n: 1 }), (err) => err instanceof Rerror && err.code === Code.NotFound);
});
