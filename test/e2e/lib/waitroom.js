// Starts the real waitroom binary for a browser test, the way the integration tests do: on
// 127.0.0.1 port 0, with its data in a fresh temporary directory, parsing the one line it
// prints once it listens. stop() sends SIGTERM and answers the exit code, which a test
// expects to be 0 (under ASan a leak or an error report makes it non-zero).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 15000;
const STDERR_KEEP = 64 * 1024;

function binaryPath() {
  const binary = process.env.WAITROOM_BINARY;
  if (!binary) throw new Error('WAITROOM_BINARY is not set (CTest sets it to the built binary)');
  return binary;
}

// Options: args (extra `serve` flags), env (extra environment variables).
async function startWaitroom({ args = [], env = {} } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'waitroom-e2e-'));
  const child = spawn(binaryPath(), [
    'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', path.join(dataDir, 'data'),
    '--admin-token', ADMIN_TOKEN, '--log-level', 'warn', ...args,
  ], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  const exited = new Promise(
      (resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const origin = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`waitroom did not start within ${START_TIMEOUT_MS} ms\n${stderr}`));
    }, START_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = /waitroom listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`waitroom exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });

  let stopped = null;
  const server = {
    origin,
    url: (pathname = '/') => origin + pathname,
    stderr: () => stderr,
    // SIGTERM, then the exit code (SIGKILL after STOP_TIMEOUT_MS: the code is then null).
    stop() {
      if (stopped) return stopped;
      stopped = (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const { code } = await exited;
        clearTimeout(timer);
        fs.rmSync(dataDir, { recursive: true, force: true });
        return code;
      })();
      return stopped;
    },
    // A JSON request to the server, from the test itself (not a browser).
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
      const answer = await server.api('POST', '/queue/join/' + encodeURIComponent(userId));
      if (answer.status !== 200) throw new Error(`join ${userId}: ${answer.status} ${answer.text}`);
      return answer.json.ticket;
    },
  };
  return server;
}

module.exports = { startWaitroom, ADMIN_TOKEN };
