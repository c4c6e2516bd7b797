// The real-browser test: headless Chromium (Debian's package, driven by
// playwright-core; no browser is downloaded) opens the example page
// (examples/browser) served by its Go server, and the test checks that the
// page pulled the server, got the server's push, and answered the server's
// pull; and that the conformance frames decode in the browser (its
// DecompressionStream, not Node's). On failure it saves a screenshot (and
// says where).
//
//   npm run test:browser        CHROMIUM=/path/to/chromium to use another
//
// The screenshot goes to $TP_ARTIFACTS_DIR, or a teleport-browser-test
// directory in the system's temporary directory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const jsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(jsDir, '..');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const artifacts = process.env.TP_ARTIFACTS_DIR ?? path.join(os.tmpdir(), 'teleport-browser-test');

/** startExample builds and starts examples/browser; resolves with its URL and output. */
async function startExample() {
  const bin = path.join(jsDir, '.cache', 'browser-example');
  execFileSync('go', ['build', '-o', bin, './examples/browser'], { cwd: repoDir, stdio: 'inherit' });
  const proc = spawn(bin, ['-addr', '127.0.0.1:0', '-js', path.join(jsDir, 'dist')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const lines = [];
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      lines.push(line);
      const m = /^open (http:\/\/\S+) in a browser$/.exec(line);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`the example exited with ${code}`)));
  });
  return {
    url,
    lines,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

let server;
let context;
let profile;
before(async () => {
  server = await startExample();
  profile = mkdtempSync(path.join(os.tmpdir(), 'teleport-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await context?.close();
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** openPage opens url in a new tab, recording its console; on failure of fn, saves a screenshot. */
async function withPage(url, fn) {
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  try {
    await page.goto(url);
    await fn(page);
  } catch (err) {
    mkdirSync(artifacts, { recursive: true });
    const shot = path.join(artifacts, `browser-${Date.now()}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch((e) => console.error(`no screenshot: ${e.message}`));
    console.error(`screenshot: ${shot}\npage console:\n${consoleLines.join('\n')}\nserver output:\n${server.lines.join('\n')}`);
    throw err;
  } finally {
    await page.close();
  }
}

test('the example page pulls, is pushed to, is pulled, and streams both ways, in Chromium', async () => {
  await withPage(server.url, async (page) => {
    await page.waitForSelector('#status[data-done="true"], #status[data-failed="true"]', { timeout: 20000 });
    const text = async (id) => (await page.textContent(`#${id}`)) ?? '';
    assert.equal(await text('status'), 'all five done', 'the page says');
    assert.equal(await text('upstream'), 'the page streamed words to /feed/upper: "STREAMED FROM A PAGE"');
    assert.equal(await text('downstream'), 'the server streamed numbers to /page/tally; the page summed them: 15');
    assert.equal(await text('pull'), 'the page pulled /chat/hello: "hello, browser, from Go"');
    assert.equal(await text('push'), 'the server pushed /page/news: "pushed by the Go server"');
    const host = new URL(server.url).host;
    assert.equal(await text('served'), `the server pulled /page/whoami ("who are you?"); the page answered "a web page at ${host}"`);
    for (const want of [`server pulled the page: "a web page at ${host}"`, 'server streamed 1 to 5 to the page, which summed them: 15']) {
      for (let i = 0; i < 200 && !server.lines.includes(want); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      assert.ok(server.lines.includes(want), `the server printed ${want}; it printed:\n${server.lines.join('\n')}`);
    }
  });
});

test('the v3.0 conformance frames decode in Chromium, gzip ended by a sync flush included', async () => {
  const cases = readFileSync(path.join(jsDir, 'test/conformance/manifest.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l))
    .map((c) => ({
      name: c.name,
      frame: readFileSync(path.join(jsDir, 'test/conformance', c.file)).toString('base64'),
      body: c.body_b64,
      meta: c.meta_raw,
    }));
  await withPage(server.url + 'js/index.js', async (page) => {
    const results = await page.evaluate(async (cases) => {
      const tp = await import('/js/index.js');
      const xor = (b) => b.map((c) => c ^ 0x5a);
      tp.registerFilter({ id: 0x78, name: 'xor-5a', onPack: xor, onUnpack: xor });
      const fromB64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
      const toB64 = (b) => btoa(String.fromCharCode(...b));
      const out = [];
      for (const c of cases) {
        try {
          const p = await tp.decodeFrame(fromB64(c.frame));
          const again = await tp.decodeFrame(await tp.encodeFrame(p));
          out.push({ name: c.name, body: toB64(p.body), meta: p.meta.toString(), again: toB64(again.body) });
        } catch (err) {
          out.push({ name: c.name, error: String(err) });
        }
      }
      return out;
    }, cases);
    assert.equal(results.length, 37);
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r, { name: cases[i].name, body: cases[i].body, meta: cases[i].meta, again: cases[i].body }, r.name);
    }
  });
});
