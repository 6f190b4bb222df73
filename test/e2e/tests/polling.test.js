// When the event stream cannot be opened (here every request for it is aborted, as a proxy
// that blocks or buffers streams would), the page polls the status route instead: it still
// sees its position move, gets its turn and enters.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser } = require('../lib/scenario');
const { newPerson } = require('../lib/browser');
const { waitForScreen, position, waitForPosition, pageState } = require('../lib/page');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '10m'
]);

test('without an event stream the page polls and still follows the queue', async () => {
  const holderTicket = await scenario.server.join('holder');
  const aheadTicket = await scenario.server.join('ahead');

  const context = await newPerson(scenario.browser);
  let streamAttempts = 0;
  let polls = 0;
  await context.route('**/queue/events/**', (route) => {
    streamAttempts += 1;
    return route.abort('connectionreset');
  });
  context.on('request', (request) => {
    if (request.url().includes('/queue/status/')) polls += 1;
  });
  const page = await context.newPage();
  await page.goto(scenario.server.url('/'));
  await waitForScreen(page, 'waiting');
  await page.waitForFunction(() => document.getElementById('wr-live').dataset.mode === 'poll');
  assert.ok(streamAttempts >= 1, 'the page tried the stream first');
  assert.equal(await position(page), 2);
  assert.equal((await pageState(page)).mode, 'poll');
  assert.equal(await page.locator('#wr-live').textContent(), 'Updates every few seconds');

  await scenario.server.api('POST', '/queue/leave/ahead', { token: aheadTicket });
  await waitForPosition(page, 1);
  await scenario.server.api('POST', '/queue/leave/holder', { token: holderTicket });
  await waitForScreen(page, 'turn');
  await page.locator('#wr-enter').click();
  await waitForScreen(page, 'connected');
  assert.ok(polls >= 2, `the page polled (${polls} polls)`);
});
