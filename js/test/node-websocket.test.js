// The client on Node.js's own WebSocket (global from Node 22; on Node 20
// test/run.mjs turns it on with --experimental-websocket), with no
// implementation passed in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../dist/index.js';
import { startPeer } from './jspeer.mjs';

let peer;
before(async () => {
  peer = await startPeer();
});
after(async () => {
  await peer.stop();
});

test('pull, push and a server pull over the global WebSocket', { skip: typeof WebSocket === 'undefined' && 'no global WebSocket' }, async (t) => {
  const c = new Client(peer.url);
  t.after(() => c.close());
  c.handlePull('/page/hello', (ctx) => `hello, ${ctx.args}`);
  assert.equal((await c.pull('/math/add', [1, 2], { timeout: 5000 })).reply, 3);
  await c.push('/say/say', 'from the global WebSocket');
  await peer.waitLine(/^push \/say\/say from the global WebSocket$/);
  const r = (await c.pull('/ctrl/ask', { uri: '/page/hello', body: 'go' })).reply;
  assert.equal(r.reply, 'hello, go');
});
