// What the tests read from and do on the waiting-room page. The page marks its state in the
// DOM (body[data-screen], #wr-position[data-position], #wr-estimate[data-seconds],
// #wr-live[data-mode]) and exposes a read-only window.waitroomPage.state() for tests.
'use strict';

const assert = require('node:assert/strict');
const { setHidden } = require('./browser');

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
  const metrics = (await server.api('GET', server.prefix + '/queue/metrics')).json;
  assert.deepEqual(
      { waiting: metrics.waiting_users, draft: metrics.draft_users, active: metrics.active_users },
      { waiting, draft, active });
}

// The waiting screen, first in line, with an estimate (in words too) and the place in the
// tab's title.
async function expectFirstInLine(page) {
  await waitForScreen(page, 'waiting');
  assert.equal(await position(page), 1);
  assert.ok((await estimateSeconds(page)) > 0, 'an estimate is shown');
  assert.match(await page.locator('#wr-estimate').textContent(), /Estimated wait/);
  assert.match(await page.title(), /#1 in line/);
}

// The turn comes while the page is in a background tab (setHidden: the person was given a
// `hidable` context): the title calls for attention until the tab is shown again, then
// names the turn and the service.
async function expectTurnInBackground(page, serviceName) {
  await waitForScreen(page, 'turn');
  assert.equal((await pageState(page)).attention, true);
  await page.waitForFunction(() => /⏰/.test(document.title));
  await setHidden(page, false);
  await page.waitForFunction((title) => document.title === title,
                             `It's your turn! – ${serviceName}`);
}

module.exports = {
  waitForScreen, position, waitForPosition, estimateSeconds, pageState, heading,
  openWaitingRoom, expectCounts, expectFirstInLine, expectTurnInBackground,
};
