// The page's side: a teleport client, pulling the server, taking its push
// and answering its pull.
import { Client } from './js/index.js';

const $ = (id) => document.getElementById(id);
const steps = ['pull', 'push', 'served'];

function done(id, text) {
  const el = $(id);
  el.textContent = text;
  el.dataset.done = 'true';
  if (steps.every((s) => $(s).dataset.done === 'true')) {
    $('status').textContent = 'all three done';
    $('status').dataset.done = 'true';
  }
}

function fail(err) {
  $('status').textContent = `failed: ${err}`;
  $('status').dataset.failed = 'true';
}

// '/tp': the WebSocket endpoint on this page's own host.
const client = new Client('/tp', {
  timeout: 10000,
  onOpen: () => ($('conn').textContent = 'open'),
  onClose: (info) => ($('conn').textContent = `closed (${info.code})${info.reconnecting ? ', reconnecting…' : ''}`),
  onError: (err) => console.error(err),
});

// Handlers first, so that they are there when the server calls.
client.handlePush('/page/news', (ctx) => done('push', `the server pushed /page/news: "${ctx.args}"`));
client.handlePull('/page/whoami', (ctx) => {
  const answer = `a web page at ${location.host}`;
  queueMicrotask(() => done('served', `the server pulled /page/whoami ("${ctx.args}"); the page answered "${answer}"`));
  return answer;
});

try {
  const { reply } = await client.pull('/chat/hello', 'browser');
  done('pull', `the page pulled /chat/hello: "${reply}"`);
} catch (err) {
  fail(err);
}
