// French and English: the server picks the page's language from Accept-Language (the
// browser's locale), dynamic texts follow it, and the switch in the page changes language
// in place (and is remembered by the browser). The page is customised here (name, logo,
// colour, welcome text in both languages), and its screenshot shows it.
'use strict';

const assert = require('node:assert/strict');
const { test, useWaitroomAndBrowser } = require('../lib/scenario');
const { newPerson, screenshots } = require('../lib/browser');
const { waitForScreen, heading } = require('../lib/page');

const scenario = useWaitroomAndBrowser([
  '--max-active-users', '1', '--session-duration', '10m', '--service-name', 'Lucie',
  '--welcome-text', 'A public AI model.', '--welcome-text-fr', 'Un modèle d\'IA public.',
  '--theme-color', '#0a7d55', '--logo-url', '/assets/favicon.svg'
], { setup: ({ server }) => server.join('holder') });  // everyone else waits

test('a French browser gets the page in French', async () => {
  const page = await (await newPerson(scenario.browser, { locale: 'fr-FR' })).newPage();
  await page.goto(scenario.server.url('/'));
  await waitForScreen(page, 'waiting');
  assert.equal(await page.getAttribute('html', 'lang'), 'fr');
  assert.equal(await heading(page), "Vous êtes dans la file d'attente");
  assert.match(await page.locator('#wr-estimate').textContent(), /^Attente estimée\s:\senviron/);
  assert.equal(await page.locator('#wr-position-label').textContent(), 'Votre place dans la file');
  assert.equal(await page.locator('#wr-welcome').textContent(), "Un modèle d'IA public.");
  assert.match(await page.title(), /dans la file – Lucie$/);
  assert.equal(await page.locator('img.logo').getAttribute('alt'), '');
  assert.equal(await page.locator('#wr-enter, .progress-bar').first()
                   .evaluate((element) => getComputedStyle(element).backgroundColor),
               'rgb(10, 125, 85)');
  await screenshots(page, 'waiting-fr');

  // The switch: English in place, and kept on the next load.
  await page.locator('#wr-lang').click();
  assert.equal(await heading(page), 'You are in the queue');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.locator('#wr-welcome').textContent(), 'A public AI model.');
  assert.equal(await page.locator('#wr-lang').textContent(), 'Français');
  await page.reload();
  await waitForScreen(page, 'waiting');
  assert.equal(await heading(page), 'You are in the queue');
});

test('an English browser gets the page in English', async () => {
  const page = await (await newPerson(scenario.browser, { locale: 'en-GB' })).newPage();
  await page.goto(scenario.server.url('/'));
  await waitForScreen(page, 'waiting');
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await heading(page), 'You are in the queue');
  assert.match(await page.locator('#wr-estimate').textContent(), /^Estimated wait: about/);
  assert.equal(await page.locator('#wr-lang').textContent(), 'Français');
});

test('the server chooses by weight among the accepted languages', async () => {
  for (const [header, lang] of [['de-DE,fr;q=0.6,en;q=0.5', 'fr'], ['de, en;q=0.7, fr;q=0.3', 'en'],
                                ['es', 'en']]) {
    const headers = { 'Accept-Language': header };
    const answer = await scenario.server.api('GET', '/', { headers });
    assert.equal(answer.status, 200);
    assert.match(answer.text, new RegExp(`<html lang="${lang}">`), header);
  }
});
