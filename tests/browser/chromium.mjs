// What the Chromium drivers (call.mjs, register.mjs, neteq.mjs) share: reading
// their environment, building and serving their page from loopback only, and
// launching Debian's headless Chromium as DESIGN.md's "Test services" starts
// it (no network but loopback, a fake microphone, plain 127.0.0.1 candidates
// only where a driver asks for them).

import http from 'node:http';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

/** `env(name, fallback)` for `script`: a missing value ends the process with code 2, saying which. */
export function envReader(script) {
  return (name, fallback) => {
    const value = process.env[name] ?? fallback;
    if (value === undefined || value === '') {
      console.error(`${script}: ${name} is not set`);
      process.exit(2);
    }
    return value;
  };
}

/** The page script at `entry`, bundled in memory (JsSIP included). */
export async function bundlePage(entry) {
  const built = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'warning',
  });
  return built.outputFiles[0].contents;
}

/**
 * Serve `html` at `/` and each of `scripts` ({ '/bundle.js': body }) from
 * 127.0.0.1 on a free port; anything else is 404 (the favicon 204).
 * Resolves to { server, pageUrl }.
 */
export async function serveLoopback(html, scripts) {
  const server = http.createServer((req, res) => {
    if (Object.hasOwn(scripts, req.url)) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(scripts[req.url]);
    } else if (req.url === '/' || req.url === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, pageUrl: `http://127.0.0.1:${server.address().port}/` };
}

/** Every driver's switches: no GPU, no QUIC, no background traffic, a fake microphone, loopback ICE. */
const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // With media permission Chromium gathers on every interface (and, with
  // the loopback switch, on 127.0.0.1), else only on the default route's.
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

/** Headless Chromium (`CHROMIUM`, default /usr/bin/chromium) on a fresh profile, with `extraArgs` after the common switches. */
export function launchChromium(userDataDir, extraArgs = []) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [...COMMON_ARGS, ...extraArgs],
  });
}
