// Runs the tests: builds the Go peer they talk to, then Node's test runner
// on the files given (default: every test/*.test.js), with Node 20's
// built-in WebSocket turned on (it is on by default from Node 22).

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { build } from './jspeer.mjs';

const testDir = path.dirname(fileURLToPath(import.meta.url));
build();
let files = process.argv.slice(2);
if (files.length === 0) {
  files = readdirSync(testDir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join(testDir, f));
}
const flags = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];
const r = spawnSync(process.execPath, [...flags, '--test', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
