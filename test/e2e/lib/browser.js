// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
// playwright-core (which never downloads a browser), with the flags a closed, shared machine
// needs. Each launch gets a fresh profile: playwright-core creates a new temporary
// user-data-dir for every launch() and deletes it on close. Each context is a separate
// "person": its own cookies and localStorage.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

// Where screenshots go: $WAITROOM_ARTIFACTS, else test-artifacts/e2e at the top of the
// source tree (git ignores it).
const ARTIFACTS = process.env.WAITROOM_ARTIFACTS ||
    path.resolve(__dirname, '..', '..', '..', 'test-artifacts', 'e2e');

async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: scripts/install-deps.sh installs Debian's chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
}

// A new person. Options: locale ("en-US", "fr-FR": also sets Accept-Language), phone (a
// phone-sized touch screen), hidable (the page can be sent to the background, see
// setHidden).
async function newPerson(browser, { locale = 'en-US', phone = false, hidable = false } = {}) {
  const context = await browser.newContext({
    locale,
    viewport: phone ? PHONE : DESKTOP,
    deviceScaleFactor: phone ? 2 : 1,
    isMobile: phone,
    hasTouch: phone,
  });
  context.setDefaultTimeout(30000);
  if (hidable) await context.addInitScript(installVisibilityControl);
  return context;
}

// Headless Chromium reports every page as visible, so a test that needs a background tab
// replaces document.visibilityState and document.hidden before any page script runs; the
// test then flips them with setHidden(), which also fires `visibilitychange` as a real
// switch of tabs does.
function installVisibilityControl() {
  let hidden = false;
  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true,
    get: () => (hidden ? 'hidden' : 'visible'),
  });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  Object.defineProperty(window, '__waitroomTestSetHidden', {
    value: (value) => {
      hidden = value;
      document.dispatchEvent(new Event('visibilitychange'));
    },
  });
}

async function setHidden(page, hidden) {
  // page.evaluate has no timeout of its own.
  let timer;
  const limit = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error('setHidden: the page did not answer in 10 s')),
                       10000);
  });
  try {
    await Promise.race([
      page.evaluate((value) => window.__waitroomTestSetHidden(value), hidden), limit,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// Closes a person's context. Playwright's close() can wait forever for a navigation that
// was in flight at that moment; after 10 s the context is left to browser.close().
async function closePerson(context) {
  let timer;
  const limit = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 10000);
  });
  const outcome = await Promise.race([context.close().then(() => 'closed'), limit]);
  clearTimeout(timer);
  if (outcome !== 'closed') console.log('closePerson: the context did not close within 10 s');
}

// Saves `name`-desktop.png and `name`-phone.png of the page as it is now (the viewport is
// resized for the phone shot and restored).
async function screenshots(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const original = page.viewportSize();
  const files = [];
  for (const [suffix, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    const file = path.join(ARTIFACTS, `${name}-${suffix}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
    files.push(file);
  }
  if (original) await page.setViewportSize(original);
  return files;
}

module.exports = {
  launchBrowser, newPerson, closePerson, setHidden, screenshots, DESKTOP, PHONE, ARTIFACTS,
  CHROMIUM_ARGS,
};
