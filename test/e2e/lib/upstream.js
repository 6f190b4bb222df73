// Starts the upstream test app (test/upstream/server.js: express + socket.io, a stand-in
// for Open WebUI) on 127.0.0.1 and a free port, for a browser test of the full gate. Its
// npm packages come from scripts/npm-ci.sh test/upstream (CTest's gate_upstream fixture).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { startListening } = require('./process');

const UPSTREAM_DIR = path.resolve(__dirname, '..', '..', 'upstream');

// On `port`, or any free one (0). Answers { origin, port, url(path), stderr(), stop() };
// stop() may be called more than once.
async function startUpstream({ port = 0 } = {}) {
  if (!fs.existsSync(path.join(UPSTREAM_DIR, 'node_modules'))) {
    throw new Error(`${UPSTREAM_DIR}/node_modules is missing: run scripts/npm-ci.sh test/upstream`);
  }
  const running = await startListening(process.execPath, {
    name: 'the upstream app',
    args: [path.join(UPSTREAM_DIR, 'server.js')],
    env: { PORT: String(port) },
    startTimeoutMs: 15000,
    stopTimeoutMs: 5000,
  });
  return {
    origin: running.origin,
    port: Number(new URL(running.origin).port),
    url: (pathname = '/') => running.origin + pathname,
    stderr: () => running.output(),
    stop: () => running.stop(),
  };
}

module.exports = { startUpstream, UPSTREAM_DIR };
