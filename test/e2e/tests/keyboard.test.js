// Keyboard-only use and basic accessibility: with nothing but Tab, Enter and Space a person
// confirms their turn, leaves, and rejoins; each screen moves the focus to its one action,
// the focused control shows a visible focus ring, and every screen (waiting, turn,
// connected, session ended, on a desktop and a phone) passes the basic accessibility check
// of lib/a11y.js.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser } = require('../lib/scenario');
const { newPerson } = require('../lib/browser');
const { waitForScreen } = require('../lib/page');
const { accessibilityProblems } = require('../lib/a11y');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '10m', '--logo-url', '/assets/favicon.svg'
]);

const focusedId = (page) =>
  page.evaluate(() => document.activeElement && document.activeElement.id);

// Presses Tab until the element `id` has the focus (at most 12 presses).
async function tabTo(page, id) {
  for (let i = 0; i < 12; ++i) {
    if (await focusedId(page) === id) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached #${id} (focus is on #${await focusedId(page)})`);
}

async function expectAccessible(page, what) {
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], `${what}: ${problems.join('; ')}`);
}

test('a keyboard alone confirms, leaves and rejoins', async () => {
  const page = await (await newPerson(scenario.browser)).newPage();
  await page.goto(scenario.server.url('/'));
  await waitForScreen(page, 'turn');
  assert.equal(await focusedId(page), 'wr-enter', 'the turn screen focuses its button');
  await expectAccessible(page, 'turn screen');
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  await page.keyboard.press('Tab');  // the focus ring shows once the keyboard is used
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focusedId(page), 'wr-enter');
  assert.notEqual(
      await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle), 'none',
      `a visible focus ring (was ${ring} before any key)`);
  await page.keyboard.press('Enter');
  await waitForScreen(page, 'connected');
  await expectAccessible(page, 'connected screen');

  await tabTo(page, 'wr-leave');
  await page.keyboard.press('Space');
  await waitForScreen(page, 'ended');
  assert.equal(await focusedId(page), 'wr-rejoin', 'the ended screen focuses its button');
  await expectAccessible(page, 'session-ended screen');
  await page.keyboard.press('Enter');
  await waitForScreen(page, 'turn');  // nobody else: the slot is offered again at once
});

test('the waiting screen is accessible on a desktop and a phone', async () => {
  // The slot is taken (by the previous test's user, or by this one).
  await scenario.server.join('someone-else');
  for (const phone of [false, true]) {
    const page = await (await newPerson(scenario.browser, { phone })).newPage();
    await page.goto(scenario.server.url('/'));
    await waitForScreen(page, 'waiting');
    await expectAccessible(page, `waiting screen (${phone ? 'phone' : 'desktop'})`);
    const live = await page.locator('#wr-position').getAttribute('aria-live');
    assert.equal(live, 'polite', 'the position is announced when it changes');
    // Nothing overflows the phone's width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth -
                                               document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  }
});
