// Starts a server process for a browser test and waits for the line it prints once it
// listens ("... listening on http://HOST:PORT"): the waitroom binary (waitroom.js) and the
// upstream test app (upstream.js) both announce themselves that way. Bounded: a process
// that neither listens nor exits within the limit is killed.
'use strict';

const { spawn } = require('node:child_process');

const OUTPUT_KEEP = 64 * 1024;

// Options: args, env (added to this process's), name (for messages), startTimeoutMs and
// stopTimeoutMs. Answers { child, origin, exited, output(), stop() }: `exited` resolves
// with {code, signal}; `output()` is the end of what the process wrote on stderr; `stop()`
// sends SIGTERM (SIGKILL after stopTimeoutMs) and answers the exit code (null when killed).
async function startListening(command, {
  args = [], env = {}, name = command, startTimeoutMs = 20000, stopTimeoutMs = 15000,
} = {}) {
  const child = spawn(command, args,
                      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-OUTPUT_KEEP);
  });
  const exited = new Promise(
      (resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const origin = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${startTimeoutMs} ms\n${stderr}`));
    }, startTimeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout = (stdout + chunk).slice(-OUTPUT_KEEP);
      const match = /listening on (http:\/\/[^\s]+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });

  let stopped = null;
  return {
    child,
    origin,
    exited,
    output: () => stderr,
    stop() {
      if (stopped) return stopped;
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
        const { code } = await exited;
        clearTimeout(timer);
        return code;
      })();
      return stopped;
    },
  };
}

module.exports = { startListening };
