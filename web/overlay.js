// The session overlay, injected by the gate into the upstream's HTML pages as
// <script src="{prefix}/assets/overlay.js" defer>.
//
// It shows a connected user the time left in the session, warns when it is about to end,
// sends heartbeats while the tab is visible (so that an open, watched tab never goes idle,
// and a forgotten background tab does), and reloads the page once the session has ended:
// the gate then shows the session-ended screen.
//
// It lives inside someone else's page, so it keeps to itself: one global
// (window.waitroomOverlay), its own element with a shadow root for its markup and styles,
// no dependency, and nothing it does can throw into the page. It polls {prefix}/queue/me
// rather than holding an event stream open: a browser allows few connections per host, and
// the upstream app needs them.
(function () {
  'use strict';
  if (window.waitroomOverlay) return;  // injected twice

  // The prefix is whatever precedes /assets/overlay.js in this script's own URL.
  let prefix = '';
  try {
    const script = document.currentScript;
    const path = new URL(script && script.src ? script.src : '', location.href).pathname;
    const at = path.lastIndexOf('/assets/overlay.js');
    if (at > 0) prefix = path.slice(0, at);
  } catch (e) { /* keep "" */ }

  const REFRESH_VISIBLE_MS = 15000;
  const REFRESH_HIDDEN_MS = 60000;
  const REQUEST_TIMEOUT_MS = 10000;

  const language = (document.documentElement.lang || navigator.language || 'en')
      .toLowerCase().startsWith('fr') ? 'fr' : 'en';
  const STRINGS = {
    en: {
      label: 'Time left in your session',
      expiring: 'Your session ends soon',
      expiring_announce: 'Your session ends in less than {time}.',
      ended: 'Your session has ended.',
    },
    fr: {
      label: 'Temps restant dans votre session',
      expiring: 'Votre session se termine bientôt',
      expiring_announce: 'Votre session se termine dans moins de {time}.',
      ended: 'Votre session est terminée.',
    },
  };
  const t = (key, time) => STRINGS[language][key].replace('{time}', time || '');

  const state = {
    userId: null,
    connected: false,
    seenConnected: false,  // only a session this page saw can end and cause a reload
    deadline: null,        // performance.now() at which the session ends
    expiringSoonMs: 60000,
    heartbeatMs: 30000,
    warned: false,
    heartbeats: 0,
  };

  // ---- the element ----

  let host = null;
  let pill = null;
  let timeText = null;
  let warningText = null;
  let announcer = null;

  const CSS = `
    :host { all: initial; }
    .pill {
      position: fixed; top: 8px; left: 50%; transform: translateX(-50%);
      z-index: 2147483647;
      display: inline-flex; align-items: center; gap: 6px;
      padding: 4px 12px; border-radius: 999px;
      font: 600 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
      color: #ffffff; background: rgba(17, 24, 39, 0.88);
      box-shadow: 0 2px 8px rgba(0, 0, 0, 0.25);
      font-variant-numeric: tabular-nums;
      pointer-events: none; user-select: none;
    }
    .pill.warning { background: #92400e; }
    .pill[hidden] { display: none; }
    .icon {
      width: 14px; height: 14px; flex: none;
      fill: none; stroke: currentColor; stroke-width: 1.6; stroke-linecap: round;
    }
    .pill { white-space: nowrap; max-width: calc(100vw - 16px); overflow: hidden; }
    .visually-hidden {
      position: absolute; width: 1px; height: 1px; overflow: hidden;
      clip: rect(0 0 0 0); white-space: nowrap;
    }
    @media print { .pill { display: none; } }
  `;

  function build() {
    if (host) return;
    host = document.createElement('waitroom-overlay');
    // Keep the host out of the page's layout, whatever the page's CSS does to elements.
    host.style.setProperty('position', 'fixed', 'important');
    host.style.setProperty('top', '0', 'important');
    host.style.setProperty('left', '0', 'important');
    host.style.setProperty('width', '0', 'important');
    host.style.setProperty('height', '0', 'important');
    host.style.setProperty('z-index', '2147483647', 'important');
    const root = host.attachShadow({ mode: 'open' });
    // A constructed style sheet is not subject to the page's style-src policy.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      const style = document.createElement('style');
      style.textContent = CSS;
      root.appendChild(style);
    }
    pill = document.createElement('div');
    pill.className = 'pill';
    pill.hidden = true;
    pill.setAttribute('role', 'timer');
    pill.setAttribute('aria-label', t('label'));
    // A clock drawn here: an emoji would depend on the fonts the visitor has.
    const svg = 'http://www.w3.org/2000/svg';
    const icon = document.createElementNS(svg, 'svg');
    icon.setAttribute('class', 'icon');
    icon.setAttribute('viewBox', '0 0 16 16');
    icon.setAttribute('aria-hidden', 'true');
    const face = document.createElementNS(svg, 'circle');
    face.setAttribute('cx', '8');
    face.setAttribute('cy', '8');
    face.setAttribute('r', '6.5');
    const hands = document.createElementNS(svg, 'path');
    hands.setAttribute('d', 'M8 4.5V8l2.5 1.5');
    icon.append(face, hands);
    timeText = document.createElement('span');
    timeText.className = 'time';
    warningText = document.createElement('span');
    warningText.className = 'warning-text';
    pill.append(icon, timeText, warningText);
    announcer = document.createElement('div');
    announcer.className = 'visually-hidden';
    announcer.setAttribute('role', 'status');
    announcer.setAttribute('aria-live', 'polite');
    root.append(pill, announcer);
    (document.body || document.documentElement).appendChild(host);
  }

  // ---- time ----

  function remainingMs() {
    return state.deadline === null ? 0 : Math.max(0, state.deadline - performance.now());
  }

  function clock(ms) {
    const total = Math.ceil(ms / 1000);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const seconds = String(total % 60).padStart(2, '0');
    return hours > 0 ? hours + ':' + String(minutes).padStart(2, '0') + ':' + seconds
                     : minutes + ':' + seconds;
  }

  function render() {
    if (!pill) return;
    pill.hidden = !state.connected;
    if (!state.connected) return;
    const left = remainingMs();
    const expiring = state.expiringSoonMs > 0 && left <= state.expiringSoonMs;
    timeText.textContent = clock(left);
    pill.classList.toggle('warning', expiring);
    warningText.textContent = expiring ? '· ' + t('expiring') : '';
    host.setAttribute('data-remaining', String(Math.ceil(left / 1000)));
    host.setAttribute('data-state', expiring ? 'expiring' : 'connected');
    if (expiring && !state.warned) {
      state.warned = true;
      announcer.textContent = t('expiring_announce', clock(state.expiringSoonMs));
    }
  }

  // ---- talking to the waiting room ----

  async function request(method, path) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(prefix + path, {
        method,
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'application/json' },
        signal: controller.signal,
      });
      let body = null;
      try { body = await response.json(); } catch (e) { body = null; }
      return { status: response.status, body };
    } finally {
      clearTimeout(timer);
    }
  }

  function sessionEnded() {
    state.connected = false;
    if (announcer) announcer.textContent = t('ended');
    render();
    // The gate answers this page's URL with the waiting room's session-ended screen now.
    location.reload();
  }

  function apply(me) {
    if (!me) return;
    if (typeof me.expiring_soon === 'number') state.expiringSoonMs = me.expiring_soon * 1000;
    if (typeof me.heartbeat_interval === 'number' && me.heartbeat_interval > 0) {
      const interval = Math.max(1000, me.heartbeat_interval * 1000);
      if (interval !== state.heartbeatMs) {
        state.heartbeatMs = interval;
        scheduleHeartbeat();
      }
    }
    if (me.status === 'connected' && typeof me.remaining_time === 'number') {
      state.userId = me.user_id;
      state.connected = true;
      state.seenConnected = true;
      state.deadline = performance.now() + me.remaining_time * 1000;
      build();
    } else if (state.seenConnected) {
      sessionEnded();
      return;
    } else {
      state.connected = false;
    }
    render();
  }

  let refreshTimer = null;
  let refreshing = false;

  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const answer = await request('GET', '/queue/me');
      if (answer.status === 200) apply(answer.body);
    } catch (e) { /* the next refresh tries again */ }
    refreshing = false;
    scheduleRefresh();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, document.visibilityState === 'hidden' ? REFRESH_HIDDEN_MS
                                                                             : REFRESH_VISIBLE_MS);
  }

  let heartbeatTimer = null;

  async function heartbeat() {
    if (!state.connected || !state.userId || document.visibilityState === 'hidden') return;
    try {
      const answer = await request('POST', '/queue/heartbeat/' + encodeURIComponent(state.userId));
      state.heartbeats += 1;
      if (answer.status === 200 && answer.body && typeof answer.body.ttl === 'number') {
        state.deadline = performance.now() + answer.body.ttl * 1000;
        render();
      } else if (answer.status === 404 || answer.status === 401 || answer.status === 403) {
        refresh();  // not connected any more, or no longer this user: find out which
      }
    } catch (e) { /* next beat */ }
  }

  function scheduleHeartbeat() {
    clearInterval(heartbeatTimer);
    heartbeatTimer = setInterval(heartbeat, state.heartbeatMs);
  }

  // ---- start ----

  let endCheckAt = 0;
  setInterval(() => {
    if (!state.connected) return;
    render();
    // At the end of the countdown, ask (at most every 2 s) whether the session is over.
    if (remainingMs() <= 0 && performance.now() - endCheckAt > 2000) {
      endCheckAt = performance.now();
      refresh();
    }
  }, 1000);

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      heartbeat();
      refresh();
    } else {
      scheduleRefresh();
    }
  });

  window.waitroomOverlay = Object.freeze({
    prefix,
    refresh,
    state: () => Object.assign({}, state, { remaining: Math.ceil(remainingMs() / 1000) }),
  });

  scheduleHeartbeat();
  refresh().then(() => heartbeat());
})();
