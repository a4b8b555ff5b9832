#!/usr/bin/env node
// The JsSIP interop peer: Debian's headless Chromium (driven by playwright-core)
// opens a page served from loopback with one JsSIP UA (src/call-page.js) that
// registers over WebSocket, auto-answers, or calls when told.
//
// Prints JSON lines on stdout (`ms` from just before the browser launch);
// reads commands on stdin, one per line: `dial TARGET`, `hangup`, `hold`,
// `unhold`, `dtmf DIGITS` (RFC 4733), `quit`.
//
// Environment (the password only here, never on the command line):
//   CALL_WS_URL         ws://127.0.0.1:PORT of the SIP server
//   CALL_DOMAIN         SIP domain
//   CALL_USER           user name
//   CALL_PASSWORD       its password
//   CALL_MIC_WAV        WAV file the fake microphone plays (looped)
//   CALL_USER_DATA_DIR  a fresh, empty Chromium profile folder
//   CALL_FOR_SECONDS    stop by itself after this long (default 120)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   CALL_DISABLE_FEATURES  more Chromium features to switch off (comma-separated)
//   CALL_FIELD_TRIALS   WebRTC field trials (`--force-fieldtrials=`), e.g. `WebRTC-EnableDtlsPqc/Disabled/`
//   CALL_IGNORE_CERT_ERRORS  `1`: accept any TLS certificate (a wss:// server signed by the test CA,
//                       which Chromium's own store does not hold)
//   CALL_RTP_WATCH_MS   poll every peer connection's inbound audio packets this often (ms) and
//                       report `rtpResumed` (`gapMs`: how long none had arrived) when packets
//                       arrive again after a gap of 200 ms or more (the network-change benchmark)
//
// SIGTERM, SIGINT, `quit` or end of stdin: hang up, unregister, close the browser, exit.

import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { bundlePage, envReader, launchChromium, serveLoopback } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = envReader('call.mjs');
const config = {
  wsUrl: env('CALL_WS_URL'),
  domain: env('CALL_DOMAIN'),
  user: env('CALL_USER'),
  password: env('CALL_PASSWORD'),
};
const micWav = env('CALL_MIC_WAV');
const userDataDir = env('CALL_USER_DATA_DIR');
const runFor = Number(env('CALL_FOR_SECONDS', '120'));
const disableFeatures = (process.env.CALL_DISABLE_FEATURES ?? '').split(',').filter(Boolean);
const fieldTrials = process.env.CALL_FIELD_TRIALS ?? '';
const ignoreCertErrors = process.env.CALL_IGNORE_CERT_ERRORS === '1';
const rtpWatchMs = Number(process.env.CALL_RTP_WATCH_MS ?? '0');

const t0 = performance.now();
const since = () => Math.round(performance.now() - t0);
const emit = (event) => process.stdout.write(`${JSON.stringify({ ...event, ms: since() })}\n`);

// 1. The page and its bundle, built in memory and served from loopback only.
const bundle = await bundlePage(path.join(here, 'src/call-page.js'));
const html = '<!doctype html><meta charset="utf-8"><title>JsSIP interop peer</title><script src="/bundle.js"></script>';
const { server, pageUrl } = await serveLoopback(html, { '/bundle.js': bundle });

// 2. The browser, as DESIGN.md's "Test services" starts it: no network but loopback.
let context;
let page;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    if (page) await page.evaluate(() => window.stopPhone()).catch(() => {});
    await context?.close();
  } catch (e) {
    console.error(`call.mjs: closing the browser: ${e}`);
  }
  server.close();
  emit({ type: 'stopped' });
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  context = await launchChromium(userDataDir, [
    `--use-file-for-fake-audio-capture=${micWav}`,
    // Plain 127.0.0.1 host candidates instead of .local mDNS names (and
    // whatever else CALL_DISABLE_FEATURES names, comma-separated).
    `--disable-features=${['WebRtcHideLocalIpsWithMdns', ...disableFeatures].join(',')}`,
    '--autoplay-policy=no-user-gesture-required',
    ...(fieldTrials ? [`--force-fieldtrials=${fieldTrials}`] : []),
    ...(ignoreCertErrors ? ['--ignore-certificate-errors'] : []),
  ]);
  emit({ type: 'launched' });
  page = context.pages()[0] ?? (await context.newPage());
  if (rtpWatchMs > 0) await page.addInitScript(watchRtp, rtpWatchMs);
  page.on('console', (m) => {
    if (m.type() === 'error') emit({ type: 'console', text: m.text() });
  });
  page.on('pageerror', (e) => emit({ type: 'pageError', text: String(e) }));
  await page.exposeFunction('homelineReport', (event) => emit(event));
  await page.goto(pageUrl);
  await page.evaluate((c) => window.startPhone(c), config);
} catch (e) {
  console.error(`call.mjs: ${e}`);
  await stop(1);
}

// In the page (before its own script): remember every peer connection and
// report when inbound audio packets arrive again after a gap.
function watchRtp(everyMs) {
  const Original = window.RTCPeerConnection;
  const connections = [];
  window.RTCPeerConnection = function RTCPeerConnection(...args) {
    const pc = new Original(...args);
    connections.push({ pc, packets: 0, lastGrowth: 0 });
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Original);
  const poll = async () => {
    for (const c of connections) {
      if (c.pc.connectionState === 'closed') continue;
      try {
        const stats = await c.pc.getStats();
        let packets = 0;
        stats.forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'audio') packets += r.packetsReceived || 0;
        });
        const now = performance.now();
        if (packets > c.packets) {
          const gapMs = c.lastGrowth ? now - c.lastGrowth : 0;
          if (c.lastGrowth && gapMs >= 200 && typeof window.homelineReport === 'function') {
            window.homelineReport({ type: 'rtpResumed', gapMs: Math.round(gapMs), packetsReceived: packets });
          }
          c.packets = packets;
          c.lastGrowth = now;
        }
      } catch (e) {
        // A connection being torn down: the next poll skips it.
      }
    }
    setTimeout(poll, everyMs);
  };
  setTimeout(poll, everyMs);
}

// 3. Commands from the test.
const input = readline.createInterface({ input: process.stdin });
input.on('line', async (line) => {
  const [command, ...rest] = line.trim().split(/\s+/);
  try {
    if (command === 'dial' && rest[0]) {
      await page.evaluate((t) => window.dial(t), rest[0]);
    } else if (command === 'hangup') {
      await page.evaluate(() => window.hangup());
    } else if (command === 'hold') {
      await page.evaluate(() => window.hold());
    } else if (command === 'unhold') {
      await page.evaluate(() => window.unhold());
    } else if (command === 'dtmf' && rest[0]) {
      await page.evaluate((d) => window.sendDtmf(d), rest[0]);
    } else if (command === 'quit') {
      await stop(0);
    } else if (command) {
      emit({ type: 'commandFailed', command: line });
    }
  } catch (e) {
    emit({ type: 'commandFailed', command: line, error: String(e) });
  }
});
input.on('close', () => stop(0));
setTimeout(() => stop(0), runFor * 1000);
