// The waiting-room page's behaviour.
//
// On load it asks {prefix}/queue/me who the caller is (the ticket cookie). With no identity
// it takes the user id kept in localStorage, or makes a random one, and joins; a join is
// idempotent, so a refresh or a second tab keeps the same place. A user whose session ended
// sees the session-ended screen and rejoins only by pressing the button.
//
// Live updates come from the event stream {prefix}/queue/events/{id} (Server-Sent Events).
// When the stream cannot open (a proxy that buffers or blocks it) the page polls
// {prefix}/queue/status/{id} instead, and tries the stream again now and then. Both feed the
// same handler, `apply`, with messages in the notification shapes of the API.
//
// Every request, timer and retry is bounded: requests time out, polling has a fixed period,
// reconnection attempts back off.
(function () {
  'use strict';

  const configElement = document.getElementById('waitroom-config');
  if (!configElement) return;
  const config = JSON.parse(configElement.textContent);
  const prefix = config.prefix || '';
  const ID_KEY = 'waitroom_user_id';
  const LANG_KEY = 'waitroom_lang';
  const POLL_INTERVAL_MS = 3000;
  const STREAM_RETRY_MS = 60000;   // while polling, try the event stream again this often
  const STREAM_STALL_MS = 10000;   // a stream that stays broken this long gives way to polling
  const WAITING_CHECK_MS = 10000;  // how often a waiting page re-reads its place and the switch
  const REQUEST_TIMEOUT_MS = 10000;
  const RETRY_DELAYS_MS = [1000, 2000, 5000, 10000, 20000, 30000];

  const $ = (id) => document.getElementById(id);
  const elements = {
    heading: $('wr-heading'),
    position: $('wr-position'),
    estimate: $('wr-estimate'),
    progress: $('wr-progress'),
    progressBar: $('wr-progress-bar'),
    notice: $('wr-notice'),
    notify: $('wr-notify'),
    pausedPosition: $('wr-paused-position'),
    turnCountdown: $('wr-turn-countdown'),
    enter: $('wr-enter'),
    turnError: $('wr-turn-error'),
    connectedText: $('wr-connected-text'),
    sessionCountdown: $('wr-session-countdown'),
    expiring: $('wr-expiring'),
    continueLink: $('wr-continue'),
    leave: $('wr-leave'),
    endedText: $('wr-ended-text'),
    rejoin: $('wr-rejoin'),
    errorText: $('wr-error-text'),
    retry: $('wr-retry'),
    welcome: $('wr-welcome'),
    live: $('wr-live'),
    lang: $('wr-lang'),
  };

  // ---- language ----

  let lang = config.lang === 'fr' ? 'fr' : 'en';
  try {
    const chosen = localStorage.getItem(LANG_KEY);
    if (chosen === 'fr' || chosen === 'en') lang = chosen;
  } catch (e) { /* storage refused: keep the server's choice */ }

  function t(key, vars) {
    const table = (config.strings && config.strings[lang]) || {};
    let text = table[key] !== undefined ? table[key] : key;
    const values = Object.assign({ service: config.service || '' }, vars || {});
    return text.replace(/\{(\w+)\}/g, (match, name) =>
      values[name] !== undefined ? String(values[name]) : match);
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    for (const element of document.querySelectorAll('[data-i18n]')) {
      element.textContent = t(element.getAttribute('data-i18n'));
    }
    const other = lang === 'fr' ? 'en' : 'fr';
    elements.lang.textContent = (config.strings[other] || {}).language_name || other;
    elements.lang.lang = other;
    const welcome = config.welcome ? (config.welcome[lang] || '') : '';
    elements.welcome.textContent = welcome;
    elements.welcome.hidden = welcome === '';
  }

  // ---- state ----

  const state = {
    userId: null,
    status: null,        // waiting, draft, connected, disconnected, or null before the first answer
    position: null,
    firstPosition: null, // the position when this place was taken, for the progress bar
    estimate: null,      // { seconds, at } with `at` from performance.now()
    deadline: null,      // performance.now() at which the draft or session ends
    reason: null,
    paused: false,
    requeued: false,
    expiring: false,
    screen: 'loading',
    error: null,
    hidden: document.visibilityState === 'hidden',
    attention: false,    // the tab was in the background when the turn came
    heartbeatIntervalMs: 30000,
  };

  // ---- HTTP ----

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

  const userPath = (route) => '/queue/' + route + '/' + encodeURIComponent(state.userId);

  function randomUserId() {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const bytes = new Uint8Array(22);
    crypto.getRandomValues(bytes);
    let id = 'w-';
    for (const byte of bytes) id += alphabet[byte % alphabet.length];
    return id;
  }

  function storedUserId() {
    try { return localStorage.getItem(ID_KEY); } catch (e) { return null; }
  }

  // The position at which this place was taken, kept across refreshes for the progress bar.
  const FIRST_KEY = 'waitroom_first_position';

  function rememberFirstPosition(position) {
    state.firstPosition = position;
    try {
      localStorage.setItem(FIRST_KEY, JSON.stringify({ id: state.userId, position }));
    } catch (e) { /* this page only */ }
  }

  function recallFirstPosition() {
    try {
      const saved = JSON.parse(localStorage.getItem(FIRST_KEY) || 'null');
      if (saved && saved.id === state.userId && typeof saved.position === 'number') {
        state.firstPosition = saved.position;
      }
    } catch (e) { /* none */ }
  }

  function storeUserId(id) {
    try { localStorage.setItem(ID_KEY, id); } catch (e) { /* private mode: this tab only */ }
  }

  // ---- rendering ----

  function formatClock(seconds) {
    const total = Math.max(0, Math.ceil(seconds));
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const secs = total % 60;
    const two = (n) => String(n).padStart(2, '0');
    return hours > 0 ? hours + ':' + two(minutes) + ':' + two(secs) : minutes + ':' + two(secs);
  }

  function estimateText(seconds) {
    if (seconds <= 0) return t('estimate_soon');
    if (seconds < 60) return t('estimate_less_minute');
    const minutes = Math.ceil(seconds / 60);
    if (minutes === 1) return t('estimate_one_minute');
    if (minutes < 60) return t('estimate_minutes', { minutes });
    return t('estimate_hours', { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  }

  function remainingSeconds() {
    if (state.deadline === null) return 0;
    return Math.max(0, (state.deadline - performance.now()) / 1000);
  }

  function estimateSeconds() {
    if (!state.estimate) return null;
    const elapsed = (performance.now() - state.estimate.at) / 1000;
    return Math.max(0, state.estimate.seconds - elapsed);
  }

  function screenFor() {
    if (state.error) return 'error';
    switch (state.status) {
      case 'waiting': return state.paused ? 'paused' : 'waiting';
      case 'draft': return 'turn';
      case 'connected': return 'connected';
      case 'disconnected': return 'ended';
      default: return 'loading';
    }
  }

  function endedTexts() {
    switch (state.reason) {
      case 'left': return ['heading_left', 'ended_left'];
      case 'draft_timeout': return ['heading_missed', 'ended_draft_timeout'];
      case 'abandoned': return ['heading_released', 'ended_abandoned'];
      case 'session_timeout': return ['heading_ended', 'ended_session_timeout'];
      case 'idle_timeout': return ['heading_ended', 'ended_idle_timeout'];
      case 'kicked': return ['heading_ended', 'ended_kicked'];
      default: return ['heading_ended', 'ended_other'];
    }
  }

  function headingFor(screen) {
    switch (screen) {
      case 'waiting': return t('heading_waiting');
      case 'paused': return t('heading_paused');
      case 'turn': return t('heading_turn');
      case 'connected': return t('heading_connected');
      case 'ended': return t(endedTexts()[0]);
      case 'error': return t('heading_error');
      default: return t('heading_loading');
    }
  }

  function titleFor(screen) {
    switch (screen) {
      case 'waiting':
        return state.position ? t('title_position', { position: state.position })
                              : t('title_waiting');
      case 'paused': return t('title_paused');
      case 'turn':
        // In a background tab the title blinks until the user comes back.
        if (!state.attention) return t('title_turn');
        return Math.floor(performance.now() / 1000) % 2 === 0 ? t('title_turn_alert')
                                                               : t('heading_turn');
      case 'connected': return t('title_connected');
      case 'ended': return t('title_ended');
      default: return t('title_waiting');
    }
  }

  // Renders the whole page from `state`. Cheap enough to run on every message and tick.
  function render() {
    const screen = screenFor();
    const changed = screen !== state.screen;
    state.screen = screen;
    document.body.dataset.screen = screen;
    for (const section of document.querySelectorAll('.screen')) {
      section.hidden = section.dataset.screen !== screen;
    }
    elements.heading.textContent = headingFor(screen);
    document.title = titleFor(screen);

    if (screen === 'waiting') {
      elements.position.textContent = state.position ? String(state.position) : '–';
      elements.position.dataset.position = state.position || '';
      const seconds = estimateSeconds();
      elements.estimate.textContent = seconds === null ? '' : estimateText(seconds);
      elements.estimate.dataset.seconds = seconds === null ? '' : String(Math.ceil(seconds));
      const first = Math.max(state.firstPosition || 1, state.position || 1);
      const done =
          state.position ? Math.round((100 * (first - state.position + 1)) / (first + 1)) : 0;
      elements.progress.setAttribute('aria-valuenow', String(done));
      elements.progressBar.style.width = done + '%';
      elements.notice.hidden = !state.requeued;
      elements.notice.textContent = state.requeued ? t('notice_requeued') : '';
      elements.notify.hidden = !('Notification' in window) || Notification.permission !== 'default';
    } else if (screen === 'paused') {
      elements.pausedPosition.textContent =
          state.position ? t('paused_position', { position: state.position }) : '';
    } else if (screen === 'turn') {
      // Until the stream's first message tells the time left (a join answer does not).
      elements.turnCountdown.textContent =
          state.deadline === null ? '–' : formatClock(remainingSeconds());
    } else if (screen === 'connected') {
      elements.connectedText.textContent = t('connected_text');
      elements.sessionCountdown.textContent =
          state.deadline === null ? '–' : formatClock(remainingSeconds());
      elements.expiring.hidden = !state.expiring;
      elements.expiring.textContent = state.expiring ? t('expiring_text') : '';
      elements.continueLink.hidden = !config.has_upstream;
      elements.continueLink.textContent = t('continue_button');
    } else if (screen === 'ended') {
      elements.endedText.textContent = t(endedTexts()[1]);
    } else if (screen === 'error') {
      elements.errorText.textContent = state.error;
    }
    elements.live.textContent = stream.mode === 'poll' ? t('live_polling')
                              : stream.mode === 'stream' ? t('live_stream') : '';
    elements.live.dataset.mode = stream.mode || '';

    if (changed) {
      // Move the keyboard and screen reader to what matters on the new screen: the one
      // button on the turn screen, the heading elsewhere (it names the new screen).
      const target = screen === 'turn' ? elements.enter
                   : screen === 'ended' ? elements.rejoin
                   : elements.heading;
      if (screen !== 'loading') target.focus({ preventScroll: false });
    }
  }

  // ---- attention when the turn comes in a background tab ----

  // Browsers let a page play sound only after the person interacted with it, so the audio
  // context is made (and so allowed) at the first click or key press, if there is one.
  let audio = null;

  function audioContext() {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!audio && AudioContext) {
      try { audio = new AudioContext(); } catch (e) { audio = null; }
    }
    if (audio && audio.state === 'suspended') audio.resume().catch(() => {});
    return audio;
  }

  for (const type of ['pointerdown', 'keydown']) {
    document.addEventListener(type, audioContext, { once: true, capture: true });
  }

  function beep() {
    try {
      const audio = audioContext();
      if (!audio) return;
      const start = audio.currentTime + 0.05;
      // Two short rising tones; the envelope avoids clicks.
      [[660, 0], [880, 0.22]].forEach(([frequency, offset]) => {
        const oscillator = audio.createOscillator();
        const gain = audio.createGain();
        oscillator.type = 'sine';
        oscillator.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, start + offset);
        gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.18);
        oscillator.connect(gain).connect(audio.destination);
        oscillator.start(start + offset);
        oscillator.stop(start + offset + 0.2);
      });
    } catch (e) { /* no sound: the title and the notification remain */ }
  }

  function notifyTurn() {
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const notification = new Notification(t('notification_title'), {
        body: t('notification_body'),
        tag: 'waitroom-turn',
      });
      notification.onclick = () => { window.focus(); notification.close(); };
    } catch (e) { /* some browsers only notify from a service worker */ }
  }

  function callAttention() {
    state.attention = true;
    beep();
    notifyTurn();
  }

  function stopAttention() {
    state.attention = false;
    render();
  }

  document.addEventListener('visibilitychange', () => {
    state.hidden = document.visibilityState === 'hidden';
    if (!state.hidden) {
      stopAttention();
      if (state.status === 'connected') heartbeat();
    }
  });

  // ---- messages ----

  function setDeadline(seconds) {
    if (typeof seconds === 'number') state.deadline = performance.now() + seconds * 1000;
  }

  // One message in the notification shapes (stream, status poll, join answer, /queue/me).
  function apply(message) {
    if (!message || typeof message !== 'object') return;
    const previous = state.status;
    if (typeof message.paused === 'boolean') state.paused = message.paused;
    switch (message.status) {
      case 'waiting':
        state.status = 'waiting';
        if (typeof message.position === 'number' && message.position > 0) {
          state.position = message.position;
          if (state.firstPosition === null || previous === 'draft' ||
              previous === 'connected' || previous === 'disconnected') {
            rememberFirstPosition(message.position);
          }
        }
        if (typeof message.estimated_wait === 'number') {
          state.estimate = { seconds: message.estimated_wait, at: performance.now() };
        }
        if (message.reason === 'draft_timeout') state.requeued = true;
        break;
      case 'draft':
        if (previous !== 'draft') state.deadline = null;
        state.status = 'draft';
        setDeadline(typeof message.remaining_time === 'number' ? message.remaining_time
                                                               : message.duration);
        if (previous !== 'draft' && state.hidden) callAttention();
        break;
      case 'connected':
        if (previous !== 'connected') state.deadline = null;
        state.status = 'connected';
        state.requeued = false;
        // Confirmed, here or in another tab: behind the gate, go to the service.
        if (previous === 'draft' && config.has_upstream) enterService();
        setDeadline(typeof message.remaining_time === 'number' ? message.remaining_time
                                                               : message.session_duration);
        break;
      case 'expiring_soon':
        setDeadline(message.remaining_time);
        if (message.session_type === 'active') state.expiring = true;
        break;
      case 'disconnected':
        state.status = 'disconnected';
        state.reason = message.reason || null;
        state.expiring = false;
        state.requeued = false;
        stopUpdates();
        break;
      case null:
        // The id is unknown (forgotten since): take a place again, once.
        if (!rejoinedUnknown) {
          rejoinedUnknown = true;
          join();
        }
        break;
      default:
        break;
    }
    if (state.status !== 'connected') state.expiring = false;
    if (state.status !== 'draft') state.attention = false;
    render();
  }

  let rejoinedUnknown = false;

  // ---- the event stream, and polling when it fails ----

  const stream = {
    source: null,
    mode: null,          // 'stream', 'poll' or null
    pollTimer: null,
    retryTimer: null,
    stallTimer: null,
  };

  function openStream() {
    closeStream();
    if (!('EventSource' in window)) {
      startPolling();
      return;
    }
    let received = false;
    const source = new EventSource(prefix + userPath('events'));
    stream.source = source;
    source.onmessage = (event) => {
      received = true;
      clearTimeout(stream.stallTimer);
      stream.stallTimer = null;
      if (stream.mode !== 'stream') {
        stopPolling();
        stream.mode = 'stream';
      }
      let message = null;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      apply(message);
    };
    source.onerror = () => {
      if (stream.source !== source) return;
      // Never delivered anything, or given up by the browser: poll instead. A stream that
      // worked and dropped reconnects by itself (with Last-Event-ID); poll only if that
      // takes too long.
      if (!received || source.readyState === EventSource.CLOSED) {
        closeStream();
        startPolling();
      } else if (stream.stallTimer === null) {
        stream.stallTimer = setTimeout(() => {
          stream.stallTimer = null;
          if (stream.source === source && source.readyState !== EventSource.OPEN) {
            closeStream();
            startPolling();
          }
        }, STREAM_STALL_MS);
      }
    };
  }

  function closeStream() {
    if (stream.source) stream.source.close();
    stream.source = null;
    clearTimeout(stream.stallTimer);
    stream.stallTimer = null;
  }

  function startPolling() {
    if (stream.pollTimer === null) {
      stream.mode = 'poll';
      const poll = async () => {
        try {
          const answer = await request('GET', userPath('status'));
          if (answer.status === 200 && answer.body) apply(answer.body);
        } catch (e) { /* the next poll tries again */ }
      };
      poll();
      stream.pollTimer = setInterval(poll, POLL_INTERVAL_MS);
    }
    // Whether polling just started or a retried stream failed again: next try in a while.
    clearTimeout(stream.retryTimer);
    stream.retryTimer = setTimeout(() => {
      stream.retryTimer = null;
      if (state.status === 'waiting' || state.status === 'draft' || state.status === 'connected') {
        openStream();  // polling stops once the stream delivers its first message
      }
    }, STREAM_RETRY_MS);
    render();
  }

  function stopPolling() {
    clearInterval(stream.pollTimer);
    stream.pollTimer = null;
    clearTimeout(stream.retryTimer);
    stream.retryTimer = null;
  }

  function stopUpdates() {
    closeStream();
    stopPolling();
    stream.mode = null;
  }

  // ---- actions ----

  let retryCount = 0;

  function showError(text) {
    state.error = text;
    render();
  }

  function errorText(error, status) {
    return status ? t('error_status', { status }) : t('error_network');
  }

  // Takes (or keeps) a place for state.userId. A refused join (the id belongs to a record
  // this browser has no ticket for) starts over with a fresh id, once.
  async function join(freshIdTried) {
    let answer;
    try {
      answer = await request('POST', userPath('join'));
    } catch (e) {
      scheduleRetry(() => join(freshIdTried), errorText(e));
      return;
    }
    if ((answer.status === 401 || answer.status === 403) && !freshIdTried) {
      state.userId = randomUserId();
      storeUserId(state.userId);
      return join(true);
    }
    if (answer.status !== 200 || !answer.body) {
      scheduleRetry(() => join(freshIdTried), errorText(null, answer.status));
      return;
    }
    retryCount = 0;
    state.error = null;
    state.requeued = false;
    const body = answer.body;
    apply({
      status: body.commit_status,
      position: body.commit_position,
      estimated_wait: body.estimated_wait,
    });
    // The stream's first message carries the draft's or session's remaining time.
    openStream();
  }

  function scheduleRetry(action, text) {
    showError(text);
    const delay = RETRY_DELAYS_MS[Math.min(retryCount, RETRY_DELAYS_MS.length - 1)];
    retryCount += 1;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      action();
    }, delay);
    retryAction = action;
  }

  let retryTimer = null;
  let retryAction = start;

  async function confirm() {
    elements.enter.disabled = true;
    elements.turnError.hidden = true;
    let answer;
    try {
      answer = await request('POST', userPath('confirm'));
    } catch (e) {
      answer = null;
    }
    elements.enter.disabled = false;
    if (answer && answer.status === 200 && answer.body) {
      if (config.has_upstream) {
        enterService();
        return;
      }
      stopAttention();
      apply({ status: 'connected', remaining_time: answer.body.remaining_time });
      heartbeat();
      return;
    }
    if (answer && answer.status === 400) {
      // No draft any more (it ran out meanwhile): show where the user stands now.
      await refresh();
      return;
    }
    elements.turnError.textContent = t('confirm_failed');
    elements.turnError.hidden = false;
  }

  // Behind the gate, the URL the browser asked for now reaches the service; the waiting
  // room's own URL leads to the service's home page.
  let entering = false;

  function enterService() {
    if (entering) return;
    entering = true;
    stopUpdates();
    const own = location.pathname === prefix + '/' || location.pathname === prefix;
    if (own) location.assign('/');
    else location.reload();
  }

  async function refresh() {
    try {
      const answer = await request('GET', userPath('status'));
      if (answer.status === 200 && answer.body) apply(answer.body);
    } catch (e) { /* the stream or the next poll brings the state */ }
  }

  async function leave() {
    elements.leave.disabled = true;
    try {
      const answer = await request('POST', userPath('leave'));
      if (answer.status === 200) apply({ status: 'disconnected', reason: 'left' });
    } catch (e) { /* the stream tells the outcome */ }
    elements.leave.disabled = false;
  }

  async function rejoin() {
    elements.rejoin.disabled = true;
    state.status = null;
    state.reason = null;
    state.firstPosition = null;
    render();
    await join();
    elements.rejoin.disabled = false;
  }

  // Heartbeats keep a connected user's session from going idle, while the tab is visible.
  let heartbeatTimer = null;

  async function heartbeat() {
    if (state.status !== 'connected' || state.hidden) return;
    try {
      const answer = await request('POST', userPath('heartbeat'));
      if (answer.status === 200 && answer.body && typeof answer.body.ttl === 'number') {
        setDeadline(answer.body.ttl);
      } else if (answer.status === 404) {
        await refresh();
      }
    } catch (e) { /* next beat */ }
  }

  function startHeartbeats() {
    if (heartbeatTimer !== null) return;
    heartbeatTimer = setInterval(heartbeat, state.heartbeatIntervalMs);
  }

  async function askNotificationPermission() {
    if (!('Notification' in window)) return;
    try { await Notification.requestPermission(); } catch (e) { /* refused */ }
    render();
  }

  // ---- start ----

  async function start() {
    state.error = null;
    render();
    let me;
    try {
      me = await request('GET', '/queue/me');
    } catch (e) {
      scheduleRetry(start, errorText(e));
      return;
    }
    if (me.status !== 200 || !me.body) {
      scheduleRetry(start, errorText(null, me.status));
      return;
    }
    retryCount = 0;
    const body = me.body;
    if (typeof body.heartbeat_interval === 'number' && body.heartbeat_interval > 0) {
      state.heartbeatIntervalMs = Math.max(1000, body.heartbeat_interval * 1000);
    }
    if (typeof body.paused === 'boolean') state.paused = body.paused;
    if (body.user_id) {
      state.userId = body.user_id;
      storeUserId(state.userId);
      recallFirstPosition();
      if (body.status === 'waiting' || body.status === 'draft' || body.status === 'connected') {
        apply(body);
        openStream();
      } else if (body.status === 'disconnected') {
        apply(body);  // the session-ended screen: rejoining is the user's choice
      } else {
        await join();
      }
    } else {
      state.userId = storedUserId() || randomUserId();
      storeUserId(state.userId);
      recallFirstPosition();
      await join();
    }
    startHeartbeats();
  }

  // While the user waits, re-reads the admission switch (the stream does not carry it) and
  // the estimate, which the server refines as slots free up even when the position stays.
  async function checkWaiting() {
    if (state.status !== 'waiting') return;
    try {
      const answer = await request('GET', '/queue/me');
      const body = answer.body;
      if (answer.status !== 200 || !body) return;
      if (body.user_id === state.userId && body.status === 'waiting') {
        apply(body);
      } else if (typeof body.paused === 'boolean' && body.paused !== state.paused) {
        state.paused = body.paused;
        render();
      }
    } catch (e) { /* next check */ }
  }

  elements.enter.addEventListener('click', confirm);
  elements.leave.addEventListener('click', leave);
  elements.rejoin.addEventListener('click', rejoin);
  elements.retry.addEventListener('click', () => {
    clearTimeout(retryTimer);
    retryTimer = null;
    retryCount = 0;
    retryAction();
  });
  elements.notify.addEventListener('click', askNotificationPermission);
  elements.lang.addEventListener('click', () => {
    lang = lang === 'fr' ? 'en' : 'fr';
    try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* this page only */ }
    applyLanguage();
    render();
  });
  // Another tab of the same browser may have changed the stored id (a fresh one after a
  // refused join): follow it so that both tabs show one place.
  window.addEventListener('storage', (event) => {
    if (event.key === ID_KEY && event.newValue && event.newValue !== state.userId &&
        state.status !== 'connected') {
      state.userId = event.newValue;
      openStream();
    }
  });

  // Countdowns and the estimate move every second between messages.
  setInterval(() => {
    if (state.screen === 'turn' || state.screen === 'connected' || state.screen === 'waiting') {
      render();
    }
  }, 1000);
  setInterval(checkWaiting, WAITING_CHECK_MS);

  // For tests and debugging: the page's state, read-only.
  window.waitroomPage = Object.freeze({
    state: () => Object.assign({}, state, { mode: stream.mode }),
  });

  if (lang !== config.lang) applyLanguage();
  else elements.lang.lang = lang === 'fr' ? 'en' : 'fr';
  start();
})();
