// The set-up every browser test file shares: one waitroom server (with the given `serve`
// flags) and one browser for the whole file, both stopped after it; the test fails if the
// server does not exit cleanly. Call at the top level of a test file; the returned object's
// `server` and `browser` are set once the file's tests start. `setup(scenario)`, if given,
// runs after both are up: node runs a file's top-level `before` hooks concurrently, so a
// second hook could not rely on this one.
'use strict';

const { test: nodeTest, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWaitroom } = require('./waitroom');
const { launchBrowser } = require('./browser');

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

function useWaitroomAndBrowser(args = [], { env = {}, setup = null } = {}) {
  const scenario = { server: null, browser: null };
  before(async () => {
    scenario.server = await startWaitroom({ args, env });
    scenario.browser = await launchBrowser();
    if (setup) await setup(scenario);
  });
  after(async () => {
    if (scenario.browser) await scenario.browser.close();
    if (scenario.server) {
      const code = await scenario.server.stop();
      assert.equal(code, 0, 'the server exits cleanly\n' + scenario.server.stderr());
    }
  });
  return scenario;
}

module.exports = { test, useWaitroomAndBrowser, step };
