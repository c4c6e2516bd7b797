// A server that sends what no teleport peer would: the client closes the
// connection (code 4400), tells onError, and its waiting pulls end.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { Client, Code, Rerror } from '../dist/index.js';

/** serve starts a WebSocket server that answers every message with reply(ws, data). */
async function serve(t, reply) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.on('listening', resolve));
  const closes = [];
  wss.on('connection', (ws) => {
    ws.on('message', (data) => reply(ws, data));
    ws.on('close', (code) => closes.push(code));
  });
  t.after(
    () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(resolve);
      }),
  );
  return { url: `ws://127.0.0.1:${wss.address().port}/tp`, closes };
}

const bad = [
  ['a text message', (ws) => ws.send('{"not":"binary"}')],
  ['garbage', (ws) => ws.send(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))],
  ['a frame size over the limit', (ws) => ws.send(Buffer.from([0x00, 0x20, 0x00, 0x00, 0x66, 0x00]))], // 2 MiB > 1 MiB
  ['a frame size below the minimum', (ws) => ws.send(Buffer.from([0x00, 0x00, 0x00, 0x05, 0x66]))],
  [
    'a truncated payload',
    (ws) => {
      const f = Buffer.alloc(30);
      f.writeUInt32BE(30, 0);
      f[4] = 0x66;
      f.writeUInt32BE(0xffff, 6 + 9); // a uri length past the end
      ws.send(f);
    },
  ],
];

for (const [name, send] of bad) {
  test(`the client closes the connection on ${name}`, async (t) => {
    const server = await serve(t, send);
    const errors = [];
    const c = new Client(server.url, { WebSocket, reconnect: false, sizeLimit: 1 << 20, onError: (e) => errors.push(e) });
    t.after(() => c.close());
    await c.ready({ timeout: 5000 });
    await assert.rejects(
      c.pull('/anything', 1, { timeout: 5000 }),
      (e) => e instanceof Rerror && e.code === Code.ConnClosed,
    );
    assert.equal(errors.length, 1, String(errors));
    assert.match(errors[0].message, /closing the connection/);
    for (let i = 0; i < 100 && server.closes.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(server.closes, [4400]);
  });
}
