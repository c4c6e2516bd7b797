// The Go peer the tests talk to (internal/jspeer in the repository).
//
//   build()       builds it into .cache/jspeer (test/run.mjs does, once per run)
//   startPeer()   starts it on a loopback port

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const jsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(jsDir, '..');
export const peerBinary = path.join(jsDir, '.cache', 'jspeer');

/** build compiles internal/jspeer (Go's build cache makes a rebuild cheap). */
export function build() {
  execFileSync('go', ['build', '-o', peerBinary, './internal/jspeer'], { cwd: repoDir, stdio: 'inherit' });
}

/**
 * startPeer starts the Go peer and resolves with its ws:// URL, the lines
 * it prints (as they come), waitLine(re) to wait for one, and stop().
 */
export async function startPeer() {
  const proc = spawn(peerBinary, ['-addr', '127.0.0.1:0'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const watchers = new Set();
  const rl = createInterface({ input: proc.stdout });
  rl.on('line', (line) => {
    lines.push(line);
    for (const w of watchers) w();
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));

  /** waitLine resolves with the first line matching re (within ms). */
  function waitLine(re, ms = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => re.test(l));
        if (found !== undefined) {
          watchers.delete(check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`no line matching ${re} within ${ms} ms; got:\n${lines.join('\n')}`));
      }, ms);
      watchers.add(check);
      check();
    });
  }

  const first = await Promise.race([
    waitLine(/^listening on /),
    exited.then((code) => {
      throw new Error(`jspeer exited with ${code}`);
    }),
  ]);
  const base = first.slice('listening on '.length);
  return {
    url: base.replace(/^http/, 'ws') + '/tp',
    base,
    lines,
    waitLine,
    async stop() {
      proc.stdin.end(); // it exits when its stdin closes
      await exited;
    },
  };
}
