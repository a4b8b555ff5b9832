#!/usr/bin/env node
// Chromium's WebRTC receiver (NetEq) for the audio benchmark (bench/src/audio.rs):
// Debian's headless Chromium (driven by playwright-core) opens a page served
// from loopback (src/neteq-page.js) whose RTCPeerConnection answers the
// bench's offer and records the remote audio as the browser plays it out.
// No SIP: the bench's Homeline session sends the speech straight to it, so
// the media can cross the same impairment relays as Homeline's own call.
//
// Answers any number of calls, one after the other, in one browser (started
// once, so its start-up does not load the machine during a call). Reads
// commands on stdin, one per line:
//   {"offer": SDP}   a new call: answer it, start recording its audio; prints
//                    {"type":"answer","sdp":...} (ICE gathering finished,
//                    candidates inline)
//   {"stop": PATH}   end the call, write what was recorded to PATH (mono
//                    16-bit PCM WAV at the rate Chromium renders at, 48 kHz in
//                    practice); prints {"type":"saved", samples, rate, gapMs,
//                    arrivals: [[first sample of a chunk, wall-clock ms when it
//                    reached the page], …] (processor mode),
//                    stats: the inbound-rtp getStats at the end}
//   quit             (or end of stdin, SIGTERM, SIGINT) close the browser, exit
// Prints JSON lines on stdout: launched, ready, answer, connectionState,
// recording, saved, warning, failed, stopped.
//
// Environment:
//   NETEQ_USER_DATA_DIR   a fresh, empty Chromium profile folder
//   NETEQ_RECORD          `processor` (default: MediaStreamTrackProcessor on the
//                         remote track) or `worklet` (WebAudio AudioWorklet)
//   NETEQ_FOR_SECONDS     stop by itself after this long (default 120)
//   CHROMIUM              the browser (default /usr/bin/chromium)

import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { envReader, launchChromium, serveLoopback } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = envReader('neteq.mjs');
const userDataDir = env('NETEQ_USER_DATA_DIR');
const recordMode = env('NETEQ_RECORD', 'processor');
const runFor = Number(env('NETEQ_FOR_SECONDS', '120'));

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// 1. The page, served from loopback only.
const html = '<!doctype html><meta charset="utf-8"><title>NetEq recorder</title><script src="/page.js"></script>';
const { server, pageUrl } = await serveLoopback(html, {
  '/page.js': fs.readFileSync(path.join(here, 'src/neteq-page.js')),
  '/recorder.js': fs.readFileSync(path.join(here, 'src/neteq-recorder.js')),
});

let context;
let page;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await context?.close();
  } catch (e) {
    console.error(`neteq.mjs: closing the browser: ${e}`);
  }
  server.close();
  emit({ type: 'stopped' });
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

// 2. The browser, as call.mjs starts it (no network but loopback). The page
// only receives: its fake microphone is never sent.
try {
  context = await launchChromium(userDataDir, [
    // Plain 127.0.0.1 host candidates instead of .local mDNS names.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--autoplay-policy=no-user-gesture-required',
  ]);
  emit({ type: 'launched' });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') emit({ type: 'console', text: m.text() });
  });
  page.on('pageerror', (e) => emit({ type: 'pageError', text: String(e) }));
  await page.exposeFunction('homelineReport', (event) => emit(event));
  await page.goto(pageUrl);
  emit({ type: 'ready' });
} catch (e) {
  emit({ type: 'failed', text: `launch: ${e}` });
  await stop(1);
}

function wav(pcm, rate) {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

// 3. Commands from the bench, one at a time.
const input = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
input.on('line', (line) => {
  queue = queue.then(() => handle(line.trim()));
});
async function handle(line) {
  try {
    if (line.startsWith('{')) {
      const command = JSON.parse(line);
      if (typeof command.offer === 'string') {
        const sdp = await page.evaluate(([o, m]) => window.answerOffer(o, m), [command.offer, recordMode]);
        emit({ type: 'answer', sdp });
        return;
      }
      if (typeof command.stop !== 'string') {
        emit({ type: 'failed', text: `unknown command: ${line.slice(0, 80)}` });
        return;
      }
      const r = await page.evaluate(() => window.finishRecording());
      if (r.error) emit({ type: 'warning', text: `recorder: ${r.error}` });
      if (!r.samples || !r.rate) {
        emit({ type: 'failed', text: `nothing was recorded (${r.samples} samples)`, stats: r.stats });
        return;
      }
      fs.writeFileSync(command.stop, wav(Buffer.from(r.pcmBase64, 'base64'), r.rate));
      emit({ type: 'saved', samples: r.samples, rate: r.rate, mode: r.mode, gapMs: r.gapMs, stats: r.stats, arrivals: r.arrivals });
    } else if (line === 'quit') {
      await stop(0);
    } else if (line) {
      emit({ type: 'failed', text: `unknown command: ${line}` });
    }
  } catch (e) {
    emit({ type: 'failed', text: `${line.slice(0, 20)}: ${e}` });
  }
}
input.on('close', () => {
  queue.then(() => stop(0));
});
setTimeout(() => stop(0), runFor * 1000);
