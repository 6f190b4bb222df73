// The whole journey of two people on one slot (DESIGN.md §1), in two browsers: A arrives
// first, gets the turn screen, confirms and is connected; B waits at position 1 with an
// estimate; A's session runs out (short SESSION_DURATION, with the expiring-soon warning
// first) and A sees the session-ended screen; B, whose tab is in the background, gets the
// turn (the title changes), comes back, confirms and is connected; A, whose reload still shows
// the session-ended screen, rejoins and waits.
// Screenshots of the turn, waiting, connected and session-ended screens are kept.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser, step } = require('../lib/scenario');
const { newPerson, setHidden, screenshots } = require('../lib/browser');
const {
  waitForScreen, position, heading, expectCounts, expectFirstInLine, expectTurnInBackground,
} = require('../lib/page');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '8s', '--draft-duration', '60s',
  '--expiring-soon', '4s', '--service-name', 'Lucie'
]);

test('two people share one slot from arrival to session end', async () => {
  const alice = await (await newPerson(scenario.browser)).newPage();
  await alice.goto(scenario.server.url('/'));
  await waitForScreen(alice, 'turn');
  assert.equal(await heading(alice), "It's your turn!");
  await alice.waitForFunction(
      () => /^[0-9]+:[0-5][0-9]$/.test(document.getElementById('wr-turn-countdown').textContent));
  assert.match(await alice.title(), /Lucie/);
  await screenshots(alice, 'turn');
  step('A has the turn');

  await alice.locator('#wr-enter').click();
  await waitForScreen(alice, 'connected');
  await alice.waitForFunction(
      () => /^0:0[0-8]$/.test(document.getElementById('wr-session-countdown').textContent));
  await expectCounts(scenario.server, { waiting: 0, draft: 0, active: 1 });

  const bobContext = await newPerson(scenario.browser, { hidable: true });
  const bob = await bobContext.newPage();
  await bob.goto(scenario.server.url('/'));
  await expectFirstInLine(bob);
  await screenshots(bob, 'waiting');
  step('B waits');

  // A is warned before the end, then sees the session-ended screen.
  await alice.locator('#wr-expiring').waitFor({ state: 'visible', timeout: 15000 });
  await screenshots(alice, 'connected-expiring');
  await setHidden(bob, true);  // B switches to another tab meanwhile
  await waitForScreen(alice, 'ended', 20000);
  assert.equal(await heading(alice), 'Your session has ended');
  assert.match(await alice.locator('#wr-ended-text').textContent(), /time with Lucie is up/);
  assert.ok(await alice.locator('#wr-rejoin').isVisible());
  await screenshots(alice, 'session-ended');
  step('A\'s session ended');
  // A reload keeps the session-ended screen: nobody is put back in the queue unasked.
  await alice.reload();
  await waitForScreen(alice, 'ended');
  assert.equal(await heading(alice), 'Your session has ended');

  // B's turn comes while the tab is in the background: the title calls for attention.
  await expectTurnInBackground(bob, 'Lucie');
  await bob.locator('#wr-enter').click();
  await waitForScreen(bob, 'connected');
  step('B connected');

  // A takes a new place, behind nobody: B holds the only slot.
  await alice.locator('#wr-rejoin').click();
  await waitForScreen(alice, 'waiting');
  assert.equal(await position(alice), 1);
  await expectCounts(scenario.server, { waiting: 1, draft: 0, active: 1 });
});
