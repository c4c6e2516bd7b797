// Round trips against a Go peer (internal/jspeer) started by the test, with
// the ws package as the WebSocket implementation, as a Node.js 20 program
// would pass it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import protobuf from 'protobufjs';
import { Args, Client, Code, Rerror } from '../dist/index.js';
import { startPeer } from './jspeer.mjs';

let peer;
before(async () => {
  peer = await startPeer();
});
after(async () => {
  await peer.stop();
});

/** connect returns an open client; it is closed when the test ends. */
async function connect(t, options = {}) {
  const c = new Client(peer.url, { WebSocket, ...options });
  t.after(() => c.close());
  await c.ready({ timeout: 5000 });
  return c;
}

/** rejects awaits p's rejection with a Rerror of code, and returns it. */
async function rejects(p, code) {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Rerror, `want a Rerror, got ${err}`);
    assert.equal(err.code, code, String(err));
    return err;
  }
  assert.fail(`resolved; want Rerror ${code}`);
}

test('pull: JSON both ways, metadata echoed', async (t) => {
  const c = await connect(t);
  const r = await c.pull('/math/add', [20, 22], { meta: { echo: 'a b&c ✓' } });
  assert.equal(r.reply, 42);
  assert.equal(r.codec, 0x6a);
  assert.equal(r.meta.get('echo'), 'a b&c ✓');
  const v = { s: 'é', n: [1, 2.5], b: true, o: null };
  assert.deepEqual((await c.pull('/echo/any', v)).reply, v);
});

test('pull: string codec, bytes, and an empty body', async (t) => {
  const c = await connect(t);
  assert.equal((await c.pull('/echo/text', 'plain text ✓', { codec: 'string' })).reply, 'plain text ✓');
  const bytes = new TextEncoder().encode('bytes go as strings');
  assert.equal((await c.pull('/echo/text', bytes)).reply, 'bytes go as strings');
  const none = await c.pull('/note/last'); // nothing pushed yet: an empty body
  assert.equal(none.reply, undefined);
  assert.equal(none.body.length, 0);
});

test('pull: protobuf through a codec of the caller, with protobufjs', async (t) => {
  const root = protobuf.parse(
    'syntax = "proto3"; package google.protobuf; message StringValue { string value = 1; }',
  ).root;
  const StringValue = root.lookupType('google.protobuf.StringValue');
  const pb = {
    id: 0x70, // 'p', teleport's protobuf codec
    name: 'protobuf',
    marshal: (v) => StringValue.encode(StringValue.create(v)).finish(),
    unmarshal: (b) => StringValue.toObject(StringValue.decode(b)),
  };
  const c = await connect(t);
  const r = await c.pull('/echo/upper', { value: 'teleport ✓' }, { codec: pb });
  assert.equal(r.codec, 0x70);
  assert.deepEqual(r.reply, { value: 'TELEPORT ✓' });
});

test('gzip both ways: a gzipped pull, a gzipped reply', async (t) => {
  const c = await connect(t);
  const long = 'teleport '.repeat(5000);
  assert.equal((await c.pull('/echo/text', long, { codec: 'string', xfer: ['gzip'] })).reply, long);
  assert.equal((await c.pull('/echo/text?gzip=1', long, { codec: 'string' })).reply, long);
});

test('Rerror codes: the handler\'s own, not found, escaped text', async (t) => {
  const c = await connect(t);
  const own = await rejects(c.pull('/math/fail', 1), 499);
  assert.equal(own.message, 'Refused');
  assert.equal(own.detail, 'odd input');
  await rejects(c.pull('/no/such/route', 1), Code.NotFound);
  const tricky = await rejects(c.pull('/math/tricky', 1), 500);
  assert.equal(tricky.message, 'say "hi" <b>&');
  assert.equal(tricky.detail, 'C:\\dir\\file\nline2\ttab é');
  await rejects(c.pull('/echo/text', 1, { codec: 'no-such-codec' }), Code.WriteFailed);
});

test('push reaches the server', async (t) => {
  const c = await connect(t);
  await c.push('/say/say', { hello: 'from node' });
  await peer.waitLine(/^push \/say\/say map\[hello:from node\]$/);
  assert.deepEqual((await c.pull('/note/last')).reply, { hello: 'from node' });
});

test('the server pulls the client: handlers, metadata, errors, 404, gzip', async (t) => {
  const c = await connect(t);
  c.handlePull('/page/add', (ctx) => {
    ctx.replyMeta.set('seen-from', ctx.meta.get('from'));
    return ctx.args.a + ctx.args.b + Number(ctx.query.get('plus') ?? 0);
  });
  c.handlePull('/page/text', (ctx) => {
    ctx.replyCodec = 'string';
    return `${ctx.args} back`;
  });
  c.handlePull('/page/refuse', () => {
    throw new Rerror(451, 'Unavailable', 'for legal reasons');
  });
  c.handlePull('/page/crash', () => {
    throw new Error('boom');
  });

  let r = (await c.pull('/ctrl/ask', { uri: '/page/add?plus=1', body: { a: 2, b: 3 } })).reply;
  assert.equal(r.reply, 6);
  assert.equal(r.code, 0);
  assert.equal(Args.parse(r.meta).get('seen-from'), 'go server');

  r = (await c.pull('/ctrl/ask', { uri: '/page/text', body: 'words', codec: 'string', gzip: true })).reply;
  assert.equal(r.reply, 'words back');

  r = (await c.pull('/ctrl/ask', { uri: '/page/refuse', body: 1 })).reply;
  assert.deepEqual([r.code, r.message, r.detail], [451, 'Unavailable', 'for legal reasons']);
  r = (await c.pull('/ctrl/ask', { uri: '/page/crash', body: 1 })).reply;
  assert.equal(r.code, Code.InternalServerError);
  assert.match(r.detail, /boom/);
  r = (await c.pull('/ctrl/ask', { uri: '/page/none', body: 1 })).reply;
  assert.equal(r.code, Code.NotFound);
});

test('the server pushes the client', async (t) => {
  const c = await connect(t);
  const got = new Promise((resolve) => c.handlePush('/page/news', (ctx) => resolve(ctx)));
  assert.equal((await c.pull('/ctrl/tell', { uri: '/page/news?id=9', body: { headline: 'hi' } })).reply, 'told');
  const ctx = await got;
  assert.deepEqual(ctx.args, { headline: 'hi' });
  assert.equal(ctx.path, '/page/news');
  assert.equal(ctx.query.get('id'), '9');
  assert.equal(ctx.meta.get('from'), 'go server');
});

test('a pull times out (Code.HandleTimeout); the session goes on and the late reply is dropped', async (t) => {
  const c = await connect(t);
  const start = Date.now();
  const err = await rejects(c.pull('/echo/slow', 300, { timeout: 50 }), Code.HandleTimeout);
  assert.ok(Date.now() - start < 250, `took ${Date.now() - start} ms`);
  assert.match(err.detail, /50 ms/);
  assert.equal((await c.pull('/math/add', [1, 1])).reply, 2);
  await new Promise((resolve) => setTimeout(resolve, 350)); // the late reply comes and goes
  assert.equal((await c.pull('/math/add', [2, 2])).reply, 4);
});

test('the client-wide default timeout applies', async (t) => {
  const c = await connect(t, { timeout: 50 });
  await rejects(c.pull('/echo/slow', 300), Code.HandleTimeout);
  assert.equal((await c.pull('/echo/slow', 1, { timeout: 5000 })).reply, 1);
});

test('an AbortSignal ends a pull, before or after it is sent', async (t) => {
  const c = await connect(t);
  const ctl = new AbortController();
  const p = c.pull('/echo/slow', 300, { signal: ctl.signal });
  setTimeout(() => ctl.abort(new Error('user went away')), 20);
  const err = await rejects(p, Code.HandleTimeout);
  assert.match(err.detail, /user went away/);
  await rejects(c.pull('/math/add', [1, 2], { signal: AbortSignal.abort() }), Code.HandleTimeout);
  await rejects(c.push('/say/say', 1, { signal: AbortSignal.abort() }), Code.HandleTimeout);
});

test('reconnect: a dropped connection fails its pulls, then the client comes back', async (t) => {
  let opens = 0;
  const closes = [];
  const c = await connect(t, { onOpen: () => opens++, onClose: (info) => closes.push(info), reconnect: { minDelay: 20 } });
  assert.equal(opens, 1);
  const slow = c.pull('/echo/slow', 2000);
  assert.equal((await c.pull('/ctrl/drop')).reply, 'dropping');
  const err = await rejects(slow, Code.ConnClosed);
  assert.match(err.detail, /connection closed/);
  const r = await c.pull('/math/add', [3, 4], { timeout: 5000 }); // waits for the new connection
  assert.equal(r.reply, 7);
  assert.equal(opens, 2);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].reconnecting, true);
});

test('without reconnect a lost connection closes the client', async (t) => {
  const c = await connect(t, { reconnect: false });
  await c.pull('/ctrl/drop');
  await rejects(c.pull('/echo/slow', 2000), Code.ConnClosed);
  assert.equal(c.isClosed, true);
  await rejects(c.pull('/math/add', [1, 2]), Code.ConnClosed);
});

test('a client that cannot connect retries, then gives up', async (t) => {
  const closes = [];
  const c = new Client('ws://127.0.0.1:1/tp', {
    WebSocket,
    reconnect: { retries: 2, minDelay: 10 },
    onClose: (info) => closes.push(info.reconnecting),
  });
  t.after(() => c.close());
  await rejects(c.pull('/math/add', [1, 2], { timeout: 5000 }), Code.ConnClosed);
  assert.deepEqual(closes, [true, true, false]);
});

test('close ends waiting pulls with Code.ConnClosed', async (t) => {
  const c = await connect(t);
  const slow = rejects(c.pull('/echo/slow', 2000), Code.ConnClosed);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await c.close();
  await slow;
  await rejects(c.push('/say/say', 1), Code.ConnClosed);
});

test('Args metadata objects and several pulls at once', async (t) => {
  const c = await connect(t);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => c.pull('/math/add', [i, i], { meta: new Args([['echo', `n${i}`]]) })),
  );
  results.forEach((r, i) => {
    assert.equal(r.reply, 2 * i);
    assert.equal(r.meta.get('echo'), `n${i}`);
  });
});

test('a pull\'s timeout travels to the Go handler (X-Tp-Timeout), whose context then ends with it', async (t) => {
  // The first pull on the connection, so no cancel notice can be sent
  // (the server's first reply says it understands them): only the
  // deadline the pull carried can end the handler's context.
  const fresh = await connect(t);
  await rejects(fresh.pull('/echo/hang', 1, { timeout: 100 }), Code.HandleTimeout);
  await peer.waitLine(/^hang \d+ ended: context deadline exceeded$/, 3000);

  const c = await connect(t);
  const left = Number((await c.pull('/echo/deadline', 1, { timeout: 5000 })).reply);
  assert.ok(left > 3000 && left <= 5000, `the handler had ${left} ms left`);
  assert.equal((await c.pull('/echo/deadline', 1)).reply, 'none');
});

test('an aborted pull sends a cancel notice, which ends the Go handler\'s context', async (t) => {
  const c = await connect(t);
  const first = await c.pull('/math/add', [1, 1]); // the server's first reply says it understands notices
  assert.ok(first.meta.get('X-Tp-Caps').split(',').includes('cancel'), first.meta.get('X-Tp-Caps'));
  const ctl = new AbortController();
  const hang = c.pull('/echo/hang', 1, { signal: ctl.signal });
  setTimeout(() => ctl.abort(), 50);
  await rejects(hang, Code.HandleTimeout);
  await peer.waitLine(/^hang \d+ ended: context canceled$/, 3000);
});

test('the Go server\'s deadline and cancel reach the client\'s handler as its signal', async (t) => {
  const c = await connect(t);
  const reasons = [];
  c.handlePull('/page/wait', async (ctx) => {
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    reasons.push(ctx.signal.reason.detail);
    return 'stopped';
  });
  c.handlePull('/page/ping', () => 'pong');
  // The client's first reply tells the server it understands cancel notices.
  assert.equal((await c.pull('/ctrl/ask', { uri: '/page/ping', body: 1 })).reply.reply, 'pong');

  // The handler's signal and the server's deadline end at about the same
  // time: the server gets the reply or its own timeout.
  let r = (await c.pull('/ctrl/ask', { uri: '/page/wait', body: 1, timeout_ms: 100 })).reply;
  assert.ok(r.code === Code.HandleTimeout || r.code === 0, `code ${r.code}`);
  r = (await c.pull('/ctrl/ask', { uri: '/page/wait', body: 1, cancel_ms: 100 })).reply;
  assert.equal(r.code, Code.HandleTimeout);
  for (let i = 0; i < 100 && reasons.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(reasons.length, 2);
  assert.match(reasons[0], /deadline passed/);
  assert.match(reasons[1], /cancelled its pull/);
});
