// The whole journey through the real gate (issue 3): waitroom in front of the upstream test
// app (test/upstream: express + socket.io, a stand-in for Open WebUI) with one slot.
//
// A opens the service's home page and gets the waiting room there (the turn screen),
// confirms, and the reload reaches the chat page through the proxy, with the overlay showing
// the time left. On that page socket.io connects through the gate's WebSocket tunnel and
// echoes, and a chat's tokens arrive one by one, spaced by the upstream's interval (not all at
// the end). A refresh keeps A admitted; a second tab of A shares the place. B opens the home
// page and waits at position 1 with an estimate. A's session runs out: the gate closes A's
// socket.io WebSocket (the chat page sees the server drop it) and the overlay reloads A's
// page, which shows the session-ended screen. B, whose tab is in the background, gets the
// turn (the title changes), comes back, confirms and reaches the chat page. Last, the
// upstream stops: B's next page load gets the gate's 502 page, and its "Try again" reaches
// the app once the upstream is back.
//
// Screenshots (desktop and phone) of the turn, waiting, in-app (with the overlay, and with
// its expiring-soon warning), session-ended and 502 screens land in
// test-artifacts/e2e/gate-*.png.
//
// Durations: a session must outlast A's steps, which a slow build (ASan) and a busy machine
// stretch; WAITROOM_E2E_TIME_SCALE (CTest sets it for sanitizer builds) multiplies them.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser, step } = require('../lib/scenario');
const { startUpstream } = require('../lib/upstream');
const { accessibilityProblems } = require('../lib/a11y');
const { newPerson, closePerson, setHidden, screenshots } = require('../lib/browser');
const {
  waitForScreen, pageState, heading, expectCounts, expectFirstInLine, expectTurnInBackground,
} = require('../lib/page');

const SCALE = Math.max(1, Number(process.env.WAITROOM_E2E_TIME_SCALE) || 1);
const SESSION_S = 14 * SCALE;
const EXPIRING_SOON_S = 5 * SCALE;
const TOKENS = 8;
const TOKEN_INTERVAL_MS = 250;
const CHAT_LOG_KEY = 'upstream-chat-log';  // see test/upstream/public/chat.js

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', `${SESSION_S}s`,
  '--draft-duration', `${60 * SCALE}s`, '--expiring-soon', `${EXPIRING_SOON_S}s`,
  '--service-name', 'Lucie',
], { upstream: true });

// Keeps the socket.io WebSockets a page opens, with when each closed (Date.now()).
function watchSocketIo(page) {
  const sockets = [];
  page.on('websocket', (socket) => {
    if (!socket.url().includes('/ws/socket.io/')) return;
    const entry = { url: socket.url(), closedAt: null };
    socket.once('close', () => {
      entry.closedAt = Date.now();
    });
    sockets.push(entry);
  });
  return sockets;
}

// The chat page is shown, with the overlay's time left, and its socket.io connection is up
// over a WebSocket through the gate and has echoed. Answers the page's state.
async function expectChatPage(page) {
  await page.locator('#app').waitFor();
  assert.equal(await page.title(), 'upstream app');
  await page.locator('waitroom-overlay .pill').waitFor({ state: 'visible' });
  assert.match(await page.locator('waitroom-overlay .time').textContent(), /^[0-9]+:[0-5][0-9]$/);
  await page.locator('#socket-status[data-state=connected]').waitFor();
  await page.waitForFunction(() => window.chatPage.state().socket.transport === 'websocket' &&
                                   window.chatPage.state().socket.echo !== null);
  const state = await page.evaluate(() => window.chatPage.state());
  assert.equal(state.socket.echo, 'echo:hello from the chat page');
  return state;
}

// Seconds left in the overlay's countdown.
async function overlaySecondsLeft(page) {
  return page.evaluate(() => window.waitroomOverlay.state().remaining);
}

test('two people through the gate: wait, enter, chat, session end, next in line', async () => {
  const { server, browser, upstream } = scenario;

  // ---- A arrives: the waiting room at the service's own URL, then the app ----
  const aliceContext = await newPerson(browser);
  const alice = await aliceContext.newPage();
  const aliceSockets = watchSocketIo(alice);
  const first = await alice.goto(server.url('/'));
  assert.equal(first.status(), 200);
  assert.equal(first.headers()['cache-control'], 'no-store');
  await waitForScreen(alice, 'turn');
  assert.equal(await heading(alice), "It's your turn!");
  assert.equal(new URL(alice.url()).pathname, '/', 'the waiting room is shown at the URL asked');
  const aliceId = (await pageState(alice)).userId;
  await screenshots(alice, 'gate-turn');
  step(`A (${aliceId}) has the turn`);

  await alice.locator('#wr-enter').click();
  // Confirming reloads the page, which the gate now proxies to the app.
  await expectChatPage(alice);
  assert.equal(new URL(alice.url()).pathname, '/');
  await expectCounts(server, { waiting: 0, draft: 0, active: 1 });
  step('A is in the app: overlay shown, socket.io connected and echoed');

  // ---- tokens arrive one by one ----
  await alice.locator('#chat-tokens').fill(String(TOKENS));
  await alice.locator('#chat-interval').fill(String(TOKEN_INTERVAL_MS));
  await alice.locator('#chat-send').click();
  await alice.locator('#chat-status[data-state=done]').waitFor({ timeout: 30000 });
  const tokens = (await alice.evaluate(() => window.chatPage.state().chat.tokens));
  assert.deepEqual(tokens.map((t) => t.token),
                   Array.from({ length: TOKENS }, (_, i) => `t${i + 1}`));
  const arrivals = tokens.map((t) => t.arrived_at);
  const spreadMs = arrivals[arrivals.length - 1] - arrivals[0];
  const distinct = new Set(arrivals.map((at) => Math.round(at))).size;
  const delays = tokens.map((t) => Math.round(t.arrived_at - t.sent_at));
  step(`tokens: spread ${Math.round(spreadMs)} ms, ${distinct} distinct arrivals, ` +
       `delays (arrival - upstream send) ${delays.join(' ')} ms`);
  // Buffered until the end, they would arrive together; streamed, they keep the upstream's
  // spacing (a busy machine may bunch a few, never all).
  assert.ok(spreadMs >= 0.5 * (TOKENS - 1) * TOKEN_INTERVAL_MS,
            `the tokens arrived within ${spreadMs} ms of each other`);
  assert.ok(distinct >= TOKENS / 2, `only ${distinct} distinct arrival times`);
  await screenshots(alice, 'gate-app');

  // ---- a refresh keeps A admitted; a second tab shares the place ----
  const reloaded = await alice.reload();
  assert.equal(reloaded.status(), 200);
  await expectChatPage(alice);
  const aliceTab2 = await aliceContext.newPage();
  await aliceTab2.goto(server.url('/_waitroom/'));
  await waitForScreen(aliceTab2, 'connected');
  assert.equal((await pageState(aliceTab2)).userId, aliceId, 'the second tab is A too');
  await aliceTab2.locator('#wr-continue').click();  // "continue to the service"
  await expectChatPage(aliceTab2);
  await aliceTab2.close();
  await expectCounts(server, { waiting: 0, draft: 0, active: 1 });
  step('A refreshed and used a second tab: still one place');

  // ---- B arrives and waits ----
  const bobContext = await newPerson(browser, { hidable: true });
  const bob = await bobContext.newPage();
  await bob.goto(server.url('/'));
  await expectFirstInLine(bob);
  await screenshots(bob, 'gate-waiting');
  await expectCounts(server, { waiting: 1, draft: 0, active: 1 });
  await setHidden(bob, true);  // B switches to another tab meanwhile
  step('B waits at position 1');

  // Everything above had to happen within A's session, or this test proves less than it
  // says; a slow machine needs a larger WAITROOM_E2E_TIME_SCALE.
  const leftS = await overlaySecondsLeft(alice);
  assert.ok(leftS >= 1, `A's session had ${leftS} s left after A's and B's steps: ` +
                        'raise WAITROOM_E2E_TIME_SCALE');

  // ---- A's session ends ----
  await alice.evaluate((key) => sessionStorage.removeItem(key), CHAT_LOG_KEY);
  const socket = aliceSockets[aliceSockets.length - 1];
  assert.equal(socket.closedAt, null, 'A\'s socket.io WebSocket is open before the end');
  const navigations = [];
  alice.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === alice.mainFrame()) {
      navigations.push(Date.now());
    }
  });
  // The overlay warns first.
  await alice.locator('waitroom-overlay[data-state=expiring]')
      .waitFor({ state: 'attached', timeout: (leftS + 10 * SCALE) * 1000 });
  assert.match(await alice.locator('waitroom-overlay .pill').textContent(),
               /Your session ends soon/);
  await screenshots(alice, 'gate-app-expiring');
  await waitForScreen(alice, 'ended', (leftS + 20 * SCALE) * 1000);
  assert.equal(await heading(alice), 'Your session has ended');
  assert.match(await alice.locator('#wr-ended-text').textContent(), /time with Lucie is up/);
  assert.equal(new URL(alice.url()).pathname, '/');
  await screenshots(alice, 'gate-session-ended');
  // The gate closed the WebSocket while the chat page was still there (a reload would close
  // it too, but silently: a page being replaced hears nothing).
  assert.ok(socket.closedAt !== null, 'A\'s socket.io WebSocket closed');
  const log = await alice.evaluate((key) => JSON.parse(sessionStorage.getItem(key) || '[]'),
                                   CHAT_LOG_KEY);
  const dropped = log.find((entry) => entry.type === 'disconnect');
  assert.ok(dropped, 'the chat page saw its socket.io connection end: ' + JSON.stringify(log));
  assert.equal(dropped.reason, 'transport close');
  assert.equal(navigations.length, 1, 'the overlay reloaded the page once');
  step(`A's session ended: socket closed ${navigations[0] - socket.closedAt} ms before the ` +
       'overlay\'s reload');
  // A reload keeps the session-ended screen: nobody is put back in the queue unasked.
  await alice.reload();
  await waitForScreen(alice, 'ended');

  // ---- B's turn comes while the tab is in the background ----
  await expectTurnInBackground(bob, 'Lucie');
  await bob.locator('#wr-enter').click();
  await expectChatPage(bob);
  await expectCounts(server, { waiting: 0, draft: 0, active: 1 });
  step('B is in the app');

  // ---- the upstream goes away: a page load gets the 502 page at once; it comes back ----
  await upstream.stop();
  const started = Date.now();
  const down = await bob.reload();
  assert.equal(down.status(), 502);
  assert.match(down.headers()['content-type'], /^text\/html/);
  assert.ok(Date.now() - started < 5000, 'the 502 page came within the connect timeout');
  assert.equal(await bob.locator('h1').textContent(), 'Service unavailable');
  assert.equal(await bob.locator('.service-name').textContent(), 'Lucie');
  assert.deepEqual(await accessibilityProblems(bob), []);
  await screenshots(bob, 'gate-upstream-down');
  step('the upstream is down: B gets the 502 page');
  scenario.upstream = await startUpstream({ port: upstream.port });
  await bob.locator('#wr-retry').click();  // "Try again"
  await expectChatPage(bob);
  step('the upstream is back: "Try again" reaches the app');

  await closePerson(bobContext);
  await closePerson(aliceContext);
});
