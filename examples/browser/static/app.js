// The page's side: a teleport client, pulling the server, taking its push
// and answering its pull, streaming words to the server and taking the
// numbers the server streams to it.
import { Client } from './js/index.js';

const $ = (id) => document.getElementById(id);
const steps = ['pull', 'push', 'served', 'upstream', 'downstream'];

function done(id, text) {
  const el = $(id);
  el.textContent = text;
  el.dataset.done = 'true';
  if (steps.every((s) => $(s).dataset.done === 'true')) {
    $('status').textContent = 'all five done';
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

client.handleStream('/page/tally', async (st) => {
  let sum = 0;
  for await (const n of st) sum += n;
  await st.send(sum);
  done('downstream', `the server streamed numbers to /page/tally; the page summed them: ${sum}`);
});

try {
  const { reply } = await client.pull('/chat/hello', 'browser');
  done('pull', `the page pulled /chat/hello: "${reply}"`);
  const st = await client.openStream('/feed/upper');
  const words = [];
  for (const w of ['streamed', 'from', 'a', 'page']) {
    await st.send(w);
    words.push((await st.recv()).value);
  }
  st.closeSend();
  done('upstream', `the page streamed words to /feed/upper: "${words.join(' ')}"`);
} catch (err) {
  fail(err);
}
