// A Go peer that closes sends a goaway: the pulls in flight get their
// replies, and the client moves its new calls to a new connection (which a
// closed peer refuses, so here it gives up).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { Client, Code, Rerror } from '../dist/index.js';
import { startPeer } from './jspeer.mjs';

test('the server closes: the pull in flight completes, then the client moves on', async (t) => {
  const peer = await startPeer();
  t.after(() => peer.stop());
  const closes = [];
  const c = new Client(peer.url, { WebSocket, reconnect: { retries: 2, minDelay: 20 }, onClose: (i) => closes.push(i) });
  t.after(() => c.close());
  await c.ready({ timeout: 5000 });

  const inFlight = c.pull('/echo/slow', 400);
  await peer.waitLine(/^accepted /);
  assert.equal((await c.pull('/ctrl/shutdown')).reply, 'closing');
  assert.equal((await inFlight).reply, 400, 'the pull in flight got its reply');
  await peer.waitLine(/^peer closed$/, 3000);
  await assert.rejects(c.pull('/math/add', [1, 2], { timeout: 5000 }), (e) => e instanceof Rerror && e.code === Code.ConnClosed);
  assert.equal(c.isClosed, true);
  assert.equal(closes.at(-1).reconnecting, false);
});
