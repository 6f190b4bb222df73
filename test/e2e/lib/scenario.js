// The set-up every browser test file shares: one waitroom server (with the given `serve`
// flags) and one browser for the whole file, both stopped after it; the test fails if the
// server does not exit cleanly. Call at the top level of a test file; the returned object's
// `server` and `browser` are set once the file's tests start. `setup(scenario)`, if given,
// runs after both are up: node runs a file's top-level `before` hooks concurrently, so a
// second hook could not rely on this one. With `upstream: true`, the upstream test app
// starts first and the server runs in front of it (`--upstream`, its routes under
// /_waitroom); `scenario.upstream` is the app, stopped after the server.
'use strict';

const { test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWaitroom } = require('./waitroom');
const { launchBrowser } = require('./browser');
const { startUpstream } = require('./upstream');

// node's test(), with a limit of its own well within CTest's: a step that never ends fails
// its test, by name, with the steps it went through (see step()).
const TEST_TIMEOUT_MS = 150000;

function test(name, fn) {
  return nodeTest(name, { timeout: TEST_TIMEOUT_MS }, fn);
}

// Logs a step of a test with the time since the file started; on a failure, the output
// shows how far the test got and how long each step took.
const started = Date.now();
function step(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}`);
}

function useWaitroomAndBrowser(args = [], { env = {}, setup = null, upstream = false } = {}) {
  const scenario = { server: null, browser: null, upstream: null };
  before(async () => {
    if (upstream) {
      scenario.upstream = await startUpstream();
      scenario.server = await startWaitroom({
        args: ['--upstream', scenario.upstream.origin, ...args], env, prefix: '/_waitroom',
      });
    } else {
      scenario.server = await startWaitroom({ args, env });
    }
    scenario.browser = await launchBrowser();
    if (setup) await setup(scenario);
  });
  after(async () => {
    // Everything is stopped before any failure is reported, so that nothing outlives a test.
    let code = 0;
    try {
      if (scenario.browser) await scenario.browser.close();
    } finally {
      if (scenario.server) code = await scenario.server.stop();
      if (scenario.upstream) await scenario.upstream.stop();
    }
    if (scenario.server) {
      assert.equal(code, 0, 'the server exits cleanly\n' + scenario.server.stderr());
    }
  });
  return scenario;
}

module.exports = { test, useWaitroomAndBrowser, step };
