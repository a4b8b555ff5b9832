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

import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`register.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};
const config = {
  wsUrl: env('BENCH_WS_URL'),
  domain: env('BENCH_DOMAIN'),
  users: env('BENCH_USERS').split(',').filter(Boolean),
  password: env('BENCH_PASSWORD'),
  expires: 600,
};
const userDataDir = env('BENCH_USER_DATA_DIR');
const runFor = Number(env('BENCH_FOR_SECONDS', '600'));
const executablePath = env('CHROMIUM', '/usr/bin/chromium');

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// 1. The page and its bundle, built in memory and served from loopback only.
const built = await esbuild.build({
  entryPoints: [path.join(here, 'src/page.js')],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'chrome120',
  write: false,
  logLevel: 'warning',
});
const bundle = built.outputFiles[0].contents;
// esbuild keeps a service process running: end it, it is not part of the softphone.
await esbuild.stop();
const html = '<!doctype html><meta charset="utf-8"><title>JsSIP softphone</title><script src="/bundle.js"></script>';
const server = http.createServer((req, res) => {
  if (req.url === '/bundle.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  } else if (req.url === '/' || req.url === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const pageUrl = `http://127.0.0.1:${server.address().port}/`;

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
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
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
