// The chat page of the test upstream app, in the shapes Open WebUI's web UI relies on:
// - a socket.io connection at path /ws/socket.io (the client script comes from the
//   socket.io server itself), which says "hello" and shows the echo;
// - "Send" streams /api/chat/completions?tokens=N&interval=MS with fetch and shows each
//   Server-Sent Event token as it arrives, with its arrival time.
// Tests read window.chatPage.state(). The socket's events are also kept in sessionStorage
// (key "upstream-chat-log"), so that a test can still read them after the page was
// replaced, e.g. by the waiting room once the session ended.
'use strict';
(function () {
  const LOG_KEY = 'upstream-chat-log';
  const now = () => performance.timeOrigin + performance.now();  // ms since the epoch
  const $ = (id) => document.getElementById(id);

  const state = {
    socket: { connected: false, transport: null, echo: null, connects: 0, events: [] },
    chat: { state: 'idle', tokens: [], error: null, done: false },
  };

  function log(event) {
    const entry = Object.assign({ at: now() }, event);
    state.socket.events.push(entry);
    try {
      const saved = JSON.parse(sessionStorage.getItem(LOG_KEY) || '[]');
      saved.push(Object.assign({ page: location.pathname }, entry));
      sessionStorage.setItem(LOG_KEY, JSON.stringify(saved.slice(-50)));
    } catch (e) { /* the in-page copy remains */ }
  }

  function showSocket(text, connectedState) {
    const element = $('socket-status');
    element.textContent = text;
    element.dataset.state = connectedState;
  }

  // ---- socket.io ----

  if (typeof window.io !== 'function') {
    showSocket('the socket.io client did not load', 'disconnected');
  } else {
    const socket = window.io({ path: '/ws/socket.io', reconnectionDelayMax: 5000 });
    socket.on('connect', () => {
      state.socket.connected = true;
      state.socket.connects += 1;
      state.socket.transport = socket.io.engine.transport.name;
      log({ type: 'connect', transport: state.socket.transport });
      showSocket('connected (' + state.socket.transport + ')', 'connected');
      socket.emit('message', 'hello from the chat page');
      socket.io.engine.once('upgrade', (transport) => {
        state.socket.transport = transport.name;
        log({ type: 'upgrade', transport: transport.name });
        showSocket('connected (' + transport.name + ')', 'connected');
      });
    });
    socket.on('message', (text) => {
      state.socket.echo = text;
      log({ type: 'message', text });
      $('socket-echo').textContent = 'The server says: ' + text;
    });
    socket.on('disconnect', (reason) => {
      state.socket.connected = false;
      log({ type: 'disconnect', reason });
      showSocket('disconnected: ' + reason, 'disconnected');
    });
    socket.on('connect_error', (error) => {
      log({ type: 'connect_error', message: String(error && error.message) });
    });
  }

  // ---- chat ----

  function showChat(text, chatState) {
    state.chat.state = chatState;
    const element = $('chat-status');
    element.textContent = text;
    element.dataset.state = chatState;
  }

  function addToken(token, sentAt) {
    const arrivedAt = now();
    state.chat.tokens.push({ token, sent_at: sentAt, arrived_at: arrivedAt });
    const first = state.chat.tokens[0].arrived_at;
    const item = document.createElement('li');
    item.textContent = token + ' ';
    const time = document.createElement('small');
    time.textContent = '+' + Math.round(arrivedAt - first) + ' ms';
    item.appendChild(time);
    $('chat-tokens-list').appendChild(item);
    showChat('receiving… ' + state.chat.tokens.length + ' token(s)', 'streaming');
  }

  // Handles one Server-Sent Event block ("data: ..." lines); answers false at [DONE].
  function handleEvent(block) {
    const data = block.split('\n').filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim()).join('\n');
    if (data === '') return true;
    if (data === '[DONE]') return false;
    const message = JSON.parse(data);
    addToken(message.token, message.sent_at);
    return true;
  }

  async function send(tokens, interval) {
    state.chat = { state: 'sending', tokens: [], error: null, done: false };
    $('chat-tokens-list').textContent = '';
    $('chat-send').disabled = true;
    showChat('waiting for the first token…', 'sending');
    const controller = new AbortController();
    const limit = setTimeout(() => controller.abort(), 60000);
    try {
      const response = await fetch(
          '/api/chat/completions?tokens=' + tokens + '&interval=' + interval, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
            body: JSON.stringify({ messages: [{ role: 'user', content: 'hello' }] }),
            signal: controller.signal,
          });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let open = true;
      while (open) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while (open && (end = buffer.indexOf('\n\n')) >= 0) {
          open = handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      if (open) throw new Error('the stream ended before [DONE]');
      state.chat.done = true;
      showChat('done: ' + state.chat.tokens.length + ' token(s)', 'done');
    } catch (error) {
      state.chat.error = String(error && error.message);
      showChat('failed: ' + state.chat.error, 'failed');
    } finally {
      clearTimeout(limit);
      $('chat-send').disabled = false;
    }
  }

  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    send(Number($('chat-tokens').value) || 8, Number($('chat-interval').value) || 250);
  });

  window.chatPage = Object.freeze({
    state: () => JSON.parse(JSON.stringify(state)),
  });
})();
