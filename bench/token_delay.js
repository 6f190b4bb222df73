// The delay of each streamed token: the test app (test/upstream/server.js) stamps every SSE
// token with its send time; this client notes when each arrives, directly from the app and
// through the gate, and prints one line per path:
//   RESULT path=direct tokens=N p50_ms=... p99_ms=... max_ms=...
// Usage: node bench/token_delay.js APP_URL GATE_URL COOKIE [TOKENS] [INTERVAL_MS]
'use strict';

const http = require('http');

const [appUrl, gateUrl, cookie, tokensArg, intervalArg] = process.argv.slice(2);
const tokens = Number(tokensArg) || 200;
const interval = Number(intervalArg) || 20;
const now = () => performance.timeOrigin + performance.now();

function measure(base, headers) {
  return new Promise((resolve, reject) => {
    const url = new URL(`/api/chat/completions?tokens=${tokens}&interval=${interval}`, base);
    const delays = [];
    const request = http.request(url, { method: 'POST', headers }, (response) => {
      let pending = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        const at = now();
        pending += chunk;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const data = event.replace(/^data: /, '');
          if (data !== '[DONE]') delays.push(at - JSON.parse(data).sent_at);
        }
      });
      response.on('end', () => resolve(delays));
    });
    request.on('error', reject);
    request.end();
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

(async () => {
  for (const [name, base, headers] of [
    ['direct', appUrl, {}],
    ['gate', gateUrl, { Cookie: cookie }],
  ]) {
    const delays = (await measure(base, headers)).sort((a, b) => a - b);
    console.log(
      `RESULT path=${name} tokens=${delays.length} p50_ms=${percentile(delays, 50).toFixed(3)} ` +
        `p99_ms=${percentile(delays, 99).toFixed(3)} max_ms=${delays[delays.length - 1].toFixed(3)}`,
    );
  }
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
