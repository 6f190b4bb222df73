// Admissions paused: the page shows the paused screen (with the user's place) instead of a
// turn that cannot come; when the admin resumes, the turn comes at once.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startWaitroom } = require('../lib/waitroom');
const { launchBrowser, newPerson, screenshots } = require('../lib/browser');
const { waitForScreen, heading } = require('../lib/page');

let server;
let browser;

before(async () => {
  server = await startWaitroom({ args: ['--max-active-users', '1', '--paused'] });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) assert.equal(await server.stop(), 0, 'the server exits cleanly\n' + server.stderr());
});

test('the paused screen, then the turn when admissions resume', async () => {
  const page = await (await newPerson(browser)).newPage();
  await page.goto(server.url('/'));
  await waitForScreen(page, 'paused');
  assert.equal(await heading(page), 'Entry is paused');
  assert.equal(await page.locator('#wr-paused-position').textContent(), 'Your place in line: 1');
  assert.match(await page.title(), /^Entry paused/);
  await screenshots(page, 'paused');

  const resumed = await server.admin('POST', '/queue/admin/resume');
  assert.equal(resumed.status, 200);
  await waitForScreen(page, 'turn');
});
