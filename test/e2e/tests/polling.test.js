// When the event stream cannot be opened (here every request for it is aborted, as a proxy
// that blocks or buffers streams would), the page polls the status route instead: it still
// sees its position move, gets its turn and enters.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWaitroom } = require('../lib/waitroom');
const { launchBrowser, newPerson } = require('../lib/browser');
const { waitForScreen, position, waitForPosition, pageState } = require('../lib/page');

let server;
let browser;

before(async () => {
  server = await startWaitroom({ args: ['--max-active-users', '1', '--session-duration', '10m'] });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly\n' + server.stderr());
});

test('without an event stream the page polls and still follows the queue', async () => {
  const holderTicket = await server.join('holder');
  const aheadTicket = await server.join('ahead');

  const context = await newPerson(browser);
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
  await page.goto(server.url('/'));
  await waitForScreen(page, 'waiting');
  await page.waitForFunction(() => document.getElementById('wr-live').dataset.mode === 'poll');
  assert.ok(streamAttempts >= 1, 'the page tried the stream first');
  assert.equal(await position(page), 2);
  assert.equal((await pageState(page)).mode, 'poll');
  assert.equal(await page.locator('#wr-live').textContent(), 'Updates every few seconds');

  await server.api('POST', '/queue/leave/ahead', { token: aheadTicket });
  await waitForPosition(page, 1);
  await server.api('POST', '/queue/leave/holder', { token: holderTicket });
  await waitForScreen(page, 'turn');
  await page.locator('#wr-enter').click();
  await waitForScreen(page, 'connected');
  assert.ok(polls >= 2, `the page polled (${polls} polls)`);
});
