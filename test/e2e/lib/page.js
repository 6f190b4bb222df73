// What the tests read from and do on the waiting-room page. The page marks its state in the
// DOM (body[data-screen], #wr-position[data-position], #wr-estimate[data-seconds],
// #wr-live[data-mode]) and exposes a read-only window.waitroomPage.state() for tests.
'use strict';

const assert = require('node:assert/strict');

// Waits until the page shows `screen` (loading, waiting, paused, turn, connected, ended,
// error); fails with the screen it shows instead.
async function waitForScreen(page, screen, timeout = 30000) {
  try {
    await page.waitForFunction((s) => document.body && document.body.dataset.screen === s,
                               screen, { timeout });
  } catch (error) {
    const shown = await page.evaluate(() => document.body && document.body.dataset.screen)
        .catch(() => '(page gone)');
    throw new Error(`expected the ${screen} screen within ${timeout} ms, the page shows ${shown}`);
  }
}

async function position(page) {
  const text = await page.locator('#wr-position').getAttribute('data-position');
  return text ? Number(text) : null;
}

async function waitForPosition(page, expected, timeout = 15000) {
  await page.waitForFunction(
      (p) => document.getElementById('wr-position').dataset.position === String(p),
      expected, { timeout });
}

async function estimateSeconds(page) {
  const text = await page.locator('#wr-estimate').getAttribute('data-seconds');
  return text ? Number(text) : null;
}

async function pageState(page) {
  return page.evaluate(() => window.waitroomPage.state());
}

async function heading(page) {
  return (await page.locator('#wr-heading').textContent()).trim();
}

// Opens the page and waits for its first real screen (past "loading").
async function openWaitingRoom(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.screen &&
                                   document.body.dataset.screen !== 'loading');
}

// Fails unless the server counts exactly these numbers of users in each state.
async function expectCounts(server, { waiting, draft, active }) {
  const metrics = (await server.api('GET', '/queue/metrics')).json;
  assert.deepEqual(
      { waiting: metrics.waiting_users, draft: metrics.draft_users, active: metrics.active_users },
      { waiting, draft, active });
}

module.exports = {
  waitForScreen, position, waitForPosition, estimateSeconds, pageState, heading,
  openWaitingRoom, expectCounts,
};
