// A stand-in for Open WebUI behind the gate, for waitroom's tests and benchmarks: the
// same libraries (express, socket.io) and the shapes the gate must carry.
//
//   GET  /                          the chat page (public/chat.html, Content-Length): a
//                                   socket.io client and a streamed chat, like Open WebUI's
//                                   web UI; /chat.js and /chat.css are its script and style
//   GET  /chunked.html              an HTML page sent in pieces (chunked)
//   GET  /big.html?size=N           an HTML page of N bytes
//   GET  /gzip.html                 a gzip-encoded HTML page
//   GET  /api/data                  JSON
//   ANY  /api/chat/completions      SSE: ?tokens=N&interval=MS tokens, each with its send
//                                   time (ms since the epoch), then [DONE]
//   GET  /download?size=N[&chunked=1]  N deterministic bytes: byte i = (i*31+7) & 255
//   POST /upload                    {"bytes", "sha256"} of the body it received
//   ANY  /echo                      the request as JSON (method, url, version, headers as
//                                   raw pairs, the TCP peer port); answers with hop-by-hop
//                                   headers of its own
//   GET  /slow?delay=MS             answers after MS milliseconds of silence
//   GET  /stats                     {"connections": TCP connections accepted so far,
//                                   "aborted": answers whose client left before their end,
//                                   "waiting": /slow requests in progress}
//   socket.io at /ws/socket.io      "message" echoed back as "echo:<text>"
//   WebSocket at /ws/echo           every message echoed back
//
// Listens on 127.0.0.1, port $PORT or any free one, and prints
// "upstream listening on http://127.0.0.1:PORT" once it does.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const zlib = require('zlib');
const express = require('express');
const { Server } = require('socket.io');
const { WebSocketServer } = require('ws');

const now = () => performance.timeOrigin + performance.now();
const page = (title) =>
  `<!doctype html>\n<html><head><title>${title}</title></head>` +
  `<body><h1 id="app">${title}</h1></body></html>\n`;

const app = express();
app.disable('x-powered-by');
app.disable('etag');

const publicFile = (name) => fs.readFileSync(path.join(__dirname, 'public', name), 'utf8');
const chatFiles = { html: publicFile('chat.html'), js: publicFile('chat.js'), css: publicFile('chat.css') };
app.get('/', (req, res) => res.type('html').send(chatFiles.html));
app.get('/chat.js', (req, res) => res.type('js').send(chatFiles.js));
app.get('/chat.css', (req, res) => res.type('css').send(chatFiles.css));

app.get('/chunked.html', (req, res) => {
  res.type('html');
  res.write('<!doctype html>\n<html><head><title>chunked</title></head><body>');
  setTimeout(() => res.end('<p>second piece</p></BODY></html>\n'), 20);
});

app.get('/big.html', (req, res) => {
  const size = Math.min(Number(req.query.size) || 1000, 64 * 1024 * 1024);
  const head = '<!doctype html><html><body>';
  const tail = '</body></html>';
  res.type('html').send(head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail);
});

app.get('/gzip.html', (req, res) => {
  res.set('Content-Encoding', 'gzip').type('html').send(zlib.gzipSync(page('compressed')));
});

app.get('/api/data', (req, res) => res.json({ items: [1, 2, 3] }));

app.all('/api/chat/completions', (req, res) => {
  const tokens = Math.min(Number(req.query.tokens) || 5, 1000);
  const interval = Math.min(Number(req.query.interval) || 50, 10000);
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.flushHeaders();
  let sent = 0;
  const timer = setInterval(() => {
    if (sent === tokens) {
      clearInterval(timer);
      res.end('data: [DONE]\n\n');
      return;
    }
    sent += 1;
    res.write(`data: ${JSON.stringify({ token: `t${sent}`, sent_at: now() })}\n\n`);
  }, interval);
  res.on('close', () => {
    clearInterval(timer);
    if (!res.writableEnded) aborted += 1;
  });
});

function pattern(offset, length) {
  const chunk = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) chunk[i] = ((offset + i) * 31 + 7) & 255;
  return chunk;
}

app.get('/download', (req, res) => {
  const size = Math.min(Number(req.query.size) || 0, 256 * 1024 * 1024);
  const headers = { 'Content-Type': 'application/octet-stream' };
  if (!req.query.chunked) headers['Content-Length'] = String(size);
  res.writeHead(200, headers);
  let offset = 0;
  const more = () => {
    while (offset < size) {
      const length = Math.min(65536, size - offset);
      const ok = res.write(pattern(offset, length));
      offset += length;
      if (!ok) return res.once('drain', more);
    }
    res.end();
  };
  more();
});

app.post('/upload', (req, res) => {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => res.json({ bytes, sha256: hash.digest('hex') }));
});

app.all('/echo', (req, res) => {
  const pairs = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  res.set('Connection', 'keep-alive, X-Upstream-Hop');
  res.set('X-Upstream-Hop', 'must not reach the client');
  res.set('Keep-Alive', 'timeout=5');
  res.set('Proxy-Authenticate', 'Basic');
  res.set('X-Upstream-Kept', 'yes');
  res.json({
    method: req.method,
    url: req.originalUrl,
    version: req.httpVersion,
    headers: pairs,
    peer_port: req.socket.remotePort,
  });
});

app.get('/slow', (req, res) => {
  const delay = Math.min(Number(req.query.delay) || 1000, 600000);
  waiting += 1;
  const timer = setTimeout(() => res.type('text').send('late but here'), delay);
  res.on('close', () => {
    waiting -= 1;
    clearTimeout(timer);
    if (!res.writableEnded) aborted += 1;
  });
});

let connections = 0;
let aborted = 0; // answers whose client went away before their end
let waiting = 0; // /slow requests in progress
app.get('/stats', (req, res) => res.json({ connections, aborted, waiting }));

const server = http.createServer(app);
server.keepAliveTimeout = 5000; // what uvicorn does in front of Open WebUI
server.on('connection', () => {
  connections += 1;
});

const io = new Server(server, { path: '/ws/socket.io', destroyUpgrade: false });
io.on('connection', (socket) => {
  socket.on('message', (text) => socket.emit('message', `echo:${text}`));
});

const echo = new WebSocketServer({ noServer: true });
echo.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
server.on('upgrade', (req, socket, head) => {
  if (req.url.startsWith('/ws/echo')) {
    echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
  }
});

server.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
  console.log(`upstream listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
