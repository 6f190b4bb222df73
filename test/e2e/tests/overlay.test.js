// The overlay script in a page of the upstream app. The gate is not part of this test: the
// browser context plays its part, serving a host page at /app/ that loads
// /_waitroom/assets/overlay.js and forwarding /_waitroom/* to the waiting room without the
// prefix. Checked: the overlay finds its prefix from its own URL, adds one global and its
// own element and nothing else, shows the time left, sends heartbeats while the tab is
// visible (a 3 s idle timeout would otherwise end the session), warns at expiring-soon, and
// reloads the page when the session ends (time up); in a background tab it sends no
// heartbeat, so the session goes idle, and it reloads once the tab is visible again.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser, step } = require('../lib/scenario');
const { newPerson, closePerson, setHidden, screenshots } = require('../lib/browser');
const { waitForScreen, pageState, openWaitingRoom } = require('../lib/page');

const HOST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host app</title>
<style>div, span { color: red !important; font-family: serif; } body { margin: 0; }</style></head>
<body><h1>Host app</h1><p>The upstream's own page.</p>
<script src="/_waitroom/assets/overlay.js" defer></script></body></html>`;

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '9s', '--draft-duration', '60s',
  '--expiring-soon', '4s', '--idle-timeout', '3s'
]);

// A context in which /app/ is the upstream's page and /_waitroom/* reaches the waiting room.
async function gatedPerson() {
  const context = await newPerson(scenario.browser, { hidable: true });
  const counts = { hostLoads: 0, heartbeats: 0, loadWaiters: [] };
  await context.route(scenario.server.url('/app/'), (route) => {
    counts.hostLoads += 1;
    step(`host page load ${counts.hostLoads}`);
    for (const waiter of counts.loadWaiters.splice(0)) waiter();
    return route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: HOST_PAGE });
  });
  await context.route(scenario.server.url('/_waitroom/**'), (route) =>
    route.continue({ url: route.request().url().replace('/_waitroom/', '/') }));
  context.on('request', (request) => {
    if (request.url().includes('/_waitroom/queue/heartbeat/')) counts.heartbeats += 1;
  });

  await context.addInitScript(() => {
    window.__hostGlobals = Object.getOwnPropertyNames(window);
  });
  return { context, counts };
}

// Enters through the waiting-room page; answers the user id.
async function enter(page) {
  await openWaitingRoom(page, scenario.server.url('/'));
  const screen = await page.evaluate(() => document.body.dataset.screen);
  if (screen !== 'turn') {
    await waitForScreen(page, 'ended');
    await page.locator('#wr-rejoin').click();
  }
  await waitForScreen(page, 'turn');
  await page.locator('#wr-enter').click();
  await waitForScreen(page, 'connected');
  return (await pageState(page)).userId;
}

// Resolves once the host page has been requested `expected` times (a reload by the
// overlay); fails after 20 s.
async function waitForHostLoads(counts, expected) {
  const deadline = Date.now() + 20000;
  while (counts.hostLoads < expected) {
    const left = deadline - Date.now();
    if (left <= 0) assert.fail(`the host page loaded ${counts.hostLoads} times, not ${expected}`);
    let timer;
    await new Promise((resolve) => {
      counts.loadWaiters.push(resolve);
      timer = setTimeout(resolve, left);
    });
    clearTimeout(timer);
  }
}

test('time left, heartbeats, the warning, and a reload at the end', async () => {
  const { context, counts } = await gatedPerson();
  const page = await context.newPage();
  await enter(page);
  step('connected');

  await page.goto(scenario.server.url('/app/'));
  const pill = page.locator('waitroom-overlay .pill');
  await pill.waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => window.waitroomOverlay.prefix), '/_waitroom');
  assert.match(await page.locator('waitroom-overlay .time').textContent(), /^0:0[0-9]$/);
  assert.equal(await pill.getAttribute('role'), 'timer');
  assert.equal(await pill.getAttribute('aria-label'), 'Time left in your session');
  const added = await page.evaluate(() => Object.getOwnPropertyNames(window)
      .filter((name) => !window.__hostGlobals.includes(name) && name !== '__hostGlobals'));
  assert.deepEqual(added, ['waitroomOverlay'], 'one global');
  assert.equal(await page.evaluate(() => document.body.children.length), 4,
               'h1, p, script and the overlay element');
  // The host's styles do not reach into the overlay.
  assert.equal(await page.locator('waitroom-overlay .time')
                   .evaluate((element) => getComputedStyle(element).color), 'rgb(255, 255, 255)');

  step('overlay shown');
  // Heartbeats keep the session past the 3 s idle timeout, up to the warning.
  // (The host element itself has no size: "attached", not "visible".)
  await page.locator('waitroom-overlay[data-state=expiring]')
      .waitFor({ state: 'attached', timeout: 15000 });
  assert.ok(counts.heartbeats >= 2, `heartbeats sent: ${counts.heartbeats}`);
  assert.match(await pill.textContent(), /Your session ends soon/);
  await screenshots(page, 'overlay-expiring');
  step(`warned after ${counts.heartbeats} heartbeats`);

  // The session's time is up: the overlay reloads the page (the gate would now show the
  // session-ended screen; here the host page comes back, without an overlay to show).
  await waitForHostLoads(counts, 2);
  await page.waitForFunction(() => window.waitroomOverlay &&
                                   window.waitroomOverlay.state().connected === false);
  assert.equal(await pill.isVisible(), false);
  step('reloaded; closing');
  await closePerson(context);
});

test('no heartbeat from a background tab, and a reload when it comes back', async () => {
  const { context, counts } = await gatedPerson();
  const page = await context.newPage();
  const userId = await enter(page);
  step('connected');
  await page.goto(scenario.server.url('/app/'));
  await page.locator('waitroom-overlay .pill').waitFor({ state: 'visible' });
  await setHidden(page, true);
  const beatsWhenHidden = counts.heartbeats;
  step('overlay shown, tab hidden');

  // Without heartbeats the session goes idle (3 s): wait until the server says so.
  const deadline = Date.now() + 20000;
  for (;;) {
    const users = (await scenario.server.admin('GET', '/queue/get_users')).json;
    if (!users.active_users.includes(userId)) break;
    assert.ok(Date.now() < deadline, 'the hidden tab kept the session alive');
    await new Promise((resolve) => setTimeout(resolve, 200));  // bounded poll of the server
  }
  assert.equal(counts.heartbeats, beatsWhenHidden, 'no heartbeat while hidden');
  assert.equal(counts.hostLoads, 1, 'no reload while hidden');
  step('the session went idle');

  await setHidden(page, false);
  await waitForHostLoads(counts, 2);
  // The reloaded page, whose overlay finds no session (and so shows nothing).
  await page.waitForFunction(() => window.waitroomOverlay &&
                                   window.waitroomOverlay.state().connected === false);
  step('reloaded; closing');
  await closePerson(context);
});
