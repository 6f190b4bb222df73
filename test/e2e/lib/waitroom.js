// Starts the real waitroom binary for a browser test, the way the integration tests do: on
// 127.0.0.1 port 0, with its data in a fresh temporary directory, parsing the one line it
// prints once it listens. stop() sends SIGTERM and answers the exit code, which a test
// expects to be 0 (under ASan a leak or an error report makes it non-zero).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startListening } = require('./process');

const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';

function binaryPath() {
  const binary = process.env.WAITROOM_BINARY;
  if (!binary) throw new Error('WAITROOM_BINARY is not set (CTest sets it to the built binary)');
  return binary;
}

// Options: args (extra `serve` flags), env (extra environment variables), prefix (where
// the server's own routes live: "/_waitroom" in front of an upstream).
async function startWaitroom({ args = [], env = {}, prefix = '' } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waitroom-e2e-'));
  let running;
  try {
    running = await startListening(binaryPath(), {
      name: 'waitroom',
      args: [
        'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', path.join(dataDir, 'data'),
        '--admin-token', ADMIN_TOKEN, '--log-level', 'warn', ...args,
      ],
      env,
    });
  } catch (error) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { origin } = running;

  let stopped = null;
  const server = {
    origin,
    prefix,
    url: (pathname = '/') => origin + pathname,
    stderr: () => running.output(),
    // SIGTERM, then the exit code (SIGKILL after 15 s: the code is then null).
    stop() {
      if (stopped) return stopped;
      stopped = running.stop().then((code) => {
        fs.rmSync(dataDir, { recursive: true, force: true });
        return code;
      });
      return stopped;
    },
    // A JSON request to the server, from the test itself (not a browser); `pathname`
    // includes the prefix, if any.
    async api(method, pathname, { token, body, headers = {} } = {}) {
      const response = await fetch(origin + pathname, {
        method,
        headers: {
          ...(token ? { Authorization: 'Bearer ' + token } : {}),
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
          ...headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10000),
      });
      const text = await response.text();
      let json = null;
      try { json = JSON.parse(text); } catch (e) { json = null; }
      return { status: response.status, json, text, headers: response.headers };
    },
    admin(method, pathname, body) {
      return server.api(method, pathname, { token: ADMIN_TOKEN, body });
    },
    // Joins `userId` through the API (a user without a browser); answers its ticket.
    async join(userId) {
      const answer = await server.api('POST', prefix + '/queue/join/' + encodeURIComponent(userId));
      if (answer.status !== 200) throw new Error(`join ${userId}: ${answer.status} ${answer.text}`);
      return answer.json.ticket;
    },
  };
  return server;
}

module.exports = { startWaitroom, ADMIN_TOKEN };
