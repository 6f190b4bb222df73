// Admissions paused: the page shows the paused screen (with the user's place) instead of a
// turn that cannot come; when the admin resumes, the turn comes at once.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser } = require('../lib/scenario');
const { newPerson, screenshots } = require('../lib/browser');
const { waitForScreen, heading } = require('../lib/page');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--paused'
]);

test('the paused screen, then the turn when admissions resume', async () => {
  const page = await (await newPerson(scenario.browser)).newPage();
  await page.goto(scenario.server.url('/'));
  await waitForScreen(page, 'paused');
  assert.equal(await heading(page), 'Entry is paused');
  assert.equal(await page.locator('#wr-paused-position').textContent(), 'Your place in line: 1');
  assert.match(await page.title(), /^Entry paused/);
  await screenshots(page, 'paused');

  const resumed = await scenario.server.admin('POST', '/queue/admin/resume');
  assert.equal(resumed.status, 200);
  await waitForScreen(page, 'turn');
});
