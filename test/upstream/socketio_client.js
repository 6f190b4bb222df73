// Connects to a socket.io server at /ws/socket.io (through the gate in the tests), with
// the given Cookie header, sends "hello" and prints one JSON line with what came back:
// {"connected":true,"transport":"websocket","echo":"echo:hello"} or {"error": "..."}.
//   node socketio_client.js URL [COOKIE] [TRANSPORTS]   (TRANSPORTS: polling,websocket)
'use strict';

const { io } = require('socket.io-client');

const [url, cookie = '', transports = 'polling,websocket'] = process.argv.slice(2);
const socket = io(url, {
  path: '/ws/socket.io',
  transports: transports.split(','),
  extraHeaders: cookie ? { Cookie: cookie } : {},
  reconnection: false,
  timeout: 5000,
});
const done = (result) => {
  console.log(JSON.stringify(result));
  socket.close();
  process.exit(result.error ? 1 : 0);
};
const timer = setTimeout(() => done({ error: 'timed out' }), 10000);
socket.on('connect_error', (error) => done({ error: String(error && error.message) }));
socket.on('connect', () => {
  // Wait for the upgrade to WebSocket (when allowed) before exchanging.
  const send = () => socket.emit('message', 'hello');
  if (socket.io.engine.transport.name === 'websocket' || !transports.includes('websocket')) send();
  else socket.io.engine.once('upgrade', send);
});
socket.on('message', (text) => {
  clearTimeout(timer);
  done({ connected: true, transport: socket.io.engine.transport.name, echo: text });
});
