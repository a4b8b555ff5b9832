#!/usr/bin/env node
// The JsSIP anchor: Debian's headless Chromium (driven by playwright-core)
// opens a page served from loopback that registers JsSIP UAs over WebSocket.
// Prints JSON lines on stdout; every `ms` is measured from just before the
// browser is launched (node's and playwright's own start-up are not counted).
//
// Environment (the password only here, never on the command line):
//   BENCH_WS_URL         ws://127.0.0.1:PORT of the SIP server
//   BENCH_DOMAIN         SIP domain
//   BENCH_USERS          comma-separated user names (one UA each)
//   BENCH_PASSWORD       their (shared) password
//   BENCH_USER_DATA_DIR  a fresh, empty Chromium profile folder
//   BENCH_FOR_SECONDS    stop by itself after this long (default 600)
//   CHROMIUM             the browser (default /usr/bin/chromium)
//
// SIGTERM or SIGINT: unregister, close the browser, exit.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as esbuild from 'esbuild';
import { bundlePage, envReader, launchChromium, serveLoopback } from './chromium.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = envReader('register.mjs');
const config = {
  wsUrl: env('BENCH_WS_URL'),
  domain: env('BENCH_DOMAIN'),
  users: env('BENCH_USERS').split(',').filter(Boolean),
  password: env('BENCH_PASSWORD'),
  expires: 600,
};
const userDataDir = env('BENCH_USER_DATA_DIR');
const runFor = Number(env('BENCH_FOR_SECONDS', '600'));

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// 1. The page and its bundle, built in memory and served from loopback only.
const bundle = await bundlePage(path.join(here, 'src/page.js'));
// esbuild keeps a service process running: end it, it is not part of the softphone.
await esbuild.stop();
const html = '<!doctype html><meta charset="utf-8"><title>JsSIP softphone</title><script src="/bundle.js"></script>';
const { server, pageUrl } = await serveLoopback(html, { '/bundle.js': bundle });

// 2. The browser, as DESIGN.md's "Test services" starts it: no network but loopback.
const t0 = performance.now();
const since = () => Math.round((performance.now() - t0) * 1000) / 1000;
let context;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    const page = context?.pages()[0];
    if (page) await page.evaluate(() => window.stopPhones()).catch(() => {});
    await context?.close();
  } catch (e) {
    console.error(`register.mjs: closing the browser: ${e}`);
  }
  server.close();
  emit({ type: 'stopped', ms: since() });
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

try {
  context = await launchChromium(userDataDir);
  emit({ type: 'launched', ms: since() });
  const page = context.pages()[0] ?? (await context.newPage());
  const registered = new Set();
  await page.exposeFunction('homelineReport', (event) => {
    const line = { ...event, ms: since() };
    emit(line);
    if (event.type === 'registered') {
      registered.add(event.user);
      if (registered.size === config.users.length) emit({ type: 'allRegistered', ms: since() });
    }
  });
  await page.goto(pageUrl);
  emit({ type: 'pageLoaded', ms: since() });
  await page.evaluate((c) => window.startPhones(c), config);
} catch (e) {
  console.error(`register.mjs: ${e}`);
  await stop(1);
}
setTimeout(() => stop(0), runFor * 1000);
