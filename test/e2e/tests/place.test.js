// One person keeps one place: a refresh shows the same place (same user id, same position),
// a second tab of the same browser shows that place too, and the server counts one waiting
// user. The position and the estimate update live, without a reload, when someone ahead
// leaves; both tabs follow.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser } = require('../lib/scenario');
const { newPerson } = require('../lib/browser');
const {
  waitForScreen, position, waitForPosition, estimateSeconds, pageState, expectCounts,
} = require('../lib/page');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '10m', '--draft-duration', '10m'
]);

test('refresh and a second tab keep one place, which moves up live', async () => {
  await scenario.server.join('holder');  // takes the slot (a draft)
  const aheadTicket = await scenario.server.join('ahead');  // position 1

  const context = await newPerson(scenario.browser);
  const tab = await context.newPage();
  await tab.goto(scenario.server.url('/'));
  await waitForScreen(tab, 'waiting');
  assert.equal(await position(tab), 2);
  const { userId } = await pageState(tab);
  assert.match(userId, /^w-[A-Za-z0-9]{22}$/);
  const estimateAt2 = await estimateSeconds(tab);
  assert.match(await tab.locator('#wr-estimate').textContent(), /about \d+\sminutes/);

  await tab.reload();
  await waitForScreen(tab, 'waiting');
  assert.equal(await position(tab), 2, 'a refresh keeps the place');
  assert.equal((await pageState(tab)).userId, userId);

  const second = await context.newPage();
  await second.goto(scenario.server.url('/'));
  await waitForScreen(second, 'waiting');
  assert.equal(await position(second), 2, 'a second tab shows the same place');
  assert.equal((await pageState(second)).userId, userId);
  await expectCounts(scenario.server, { waiting: 2, draft: 1, active: 0 });

  // Someone ahead leaves: both tabs move up without a reload.
  const left = await scenario.server.api('POST', '/queue/leave/ahead', { token: aheadTicket });
  assert.equal(left.status, 200);
  await waitForPosition(tab, 1);
  await waitForPosition(second, 1);
  assert.ok((await estimateSeconds(tab)) < estimateAt2, 'the estimate went down');
  assert.equal((await pageState(tab)).mode, 'stream');
  await expectCounts(scenario.server, { waiting: 1, draft: 1, active: 0 });
});
