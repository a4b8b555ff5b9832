// Screenshots of the built UI (ui/dist) with the browser stub, in Debian's
// headless Chromium, light and dark, at 360×640. No dependencies: a tiny
// static server on loopback and the DevTools protocol over WebSocket.
//
//   npm run build && node --experimental-websocket scripts/screenshots.mjs [out-dir]
//
// (Node ≥ 22 has WebSocket without the flag.) Output: <out-dir>/<name>-<theme>.png

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';

const dist = resolve(import.meta.dirname, '..', 'dist');
const out = resolve(process.argv[2] ?? join(tmpdir(), 'homeline-ui-screenshots'));
const browser = process.env.CHROMIUM ?? '/usr/bin/chromium';
const WIDTH = 360;
const HEIGHT = 640;

if (!existsSync(join(dist, 'index.html'))) {
  console.error('ui/dist is missing: run `npm run build` first');
  process.exit(1);
}
mkdirSync(out, { recursive: true });

// ---- static server -------------------------------------------------------------

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
  const file = join(dist, path === '/' ? 'index.html' : path);
  try {
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}/`;

// ---- Chromium + DevTools protocol ----------------------------------------------

const profile = mkdtempSync(join(tmpdir(), 'homeline-chromium-'));
const chrome = spawn(
  browser,
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--hide-scrollbars',
    '--remote-debugging-port=0',
    `--user-data-dir=${profile}`,
    'about:blank',
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
const wsUrl = await new Promise((ok, fail) => {
  let log = '';
  chrome.stderr.on('data', (chunk) => {
    log += chunk;
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
    if (m) ok(m[1]);
  });
  chrome.on('exit', () => fail(new Error(`chromium exited:\n${log}`)));
});

const ws = new WebSocket(wsUrl);
await new Promise((ok) => ws.addEventListener('open', ok, { once: true }));
let nextId = 1;
const pending = new Map();
ws.addEventListener('message', (e) => {
  const msg = JSON.parse(e.data);
  if (msg.id && pending.has(msg.id)) {
    const { ok, fail } = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) fail(new Error(JSON.stringify(msg.error)));
    else ok(msg.result);
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params, sessionId }));
  return new Promise((ok, fail) => pending.set(id, { ok, fail }));
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function page(theme) {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const s = (method, params) => send(method, params, sessionId);
  await s('Page.enable');
  await s('Runtime.enable');
  await s('Emulation.setDeviceMetricsOverride', { width: WIDTH, height: HEIGHT, deviceScaleFactor: 2, mobile: false });
  await s('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: theme }] });
  const evaluate = async (expression) => {
    const r = await s('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  return {
    async open(query = '') {
      await s('Page.navigate', { url: base + query });
      await sleep(400);
    },
    click: (testid) => evaluate(`document.querySelector('[data-testid="${testid}"]').click()`),
    type: (testid, text) =>
      evaluate(`(() => { const el = document.querySelector('[data-testid="${testid}"]');
        el.focus(); el.value = ${JSON.stringify(text)}; el.dispatchEvent(new Event('input', { bubbles: true })); el.blur(); })()`),
    evaluate,
    async shot(name) {
      await sleep(150);
      const { data } = await s('Page.captureScreenshot', { format: 'png' });
      const file = join(out, `${name}-${theme}.png`);
      writeFileSync(file, Buffer.from(data, 'base64'));
      console.log(file);
    },
    close: () => send('Target.closeTarget', { targetId }),
  };
}

// ---- scenes ---------------------------------------------------------------------

const scenes = {
  async 'dialer-no-account'(p) {
    await p.open();
    await p.shot('dialer-no-account');
  },
  async 'setup-form'(p) {
    await p.open();
    await p.click('setup-button');
    await sleep(100);
    await p.shot('setup-form');
    await p.click('account-save');
    await sleep(100);
    await p.shot('setup-errors');
  },
  async 'setup-unencrypted'(p) {
    await p.open();
    await p.click('setup-button');
    await p.type('account-address', 'alice@127.0.0.1');
    await p.type('account-password', 'secret');
    await p.type('account-server', 'ws://127.0.0.1:8080');
    await p.shot('setup-unencrypted');
  },
  async progress(p) {
    await p.open('?delay=4000');
    await p.click('setup-button');
    await p.type('account-address', 'alice@pbx.example.com');
    await p.type('account-password', 'secret');
    await p.click('account-save');
    await sleep(300);
    await p.shot('setup-registering');
    await sleep(4000);
    await p.shot('setup-registered');
    await p.click('registration-done');
    await sleep(200);
    await p.shot('dialer-registered');
  },
  async failed(p) {
    await p.open('?delay=300');
    await p.click('setup-button');
    await p.type('account-address', 'alice@pbx.example.com');
    await p.type('account-password', 'wrong');
    await p.click('account-save');
    await sleep(800);
    await p.shot('setup-failed');
  },
  async settings(p) {
    await p.open('?accounts=demo');
    await p.click('settings-button');
    await sleep(200);
    await p.shot('settings-accounts');
    await p.evaluate(`document.querySelectorAll('[data-testid="account-remove"]')[1].click()`);
    await sleep(100);
    await p.shot('settings-remove-confirm');
    await p.click('remove-cancel');
    await p.evaluate(`document.querySelector('[data-testid="account-edit"]').click()`);
    await sleep(150);
    await p.shot('settings-edit');
  },
  async calling(p) {
    await p.open('?accounts=one');
    for (const key of ['4', '9', '3', '0', '1', '2', '3', '4', '5', '6']) await p.click(`key-${key}`);
    await sleep(100);
    await p.click('call-button');
    await sleep(150);
    await p.shot('call-dialing');
    await sleep(700);
    await p.shot('call-ringing');
    await sleep(3300);
    await p.shot('call-active');
  },
  async 'in-call'(p) {
    await p.open('?call=active');
    await sleep(1200);
    await p.click('mute-button');
    await p.click('keypad-button');
    for (const key of ['1', '2', '3', 'hash']) await p.click(`dtmf-key-${key}`);
    await sleep(100);
    await p.shot('call-keypad');
    await p.click('keypad-button');
    await p.click('transfer-button');
    await p.type('transfer-target', '+49301234599');
    await p.evaluate(`document.querySelector('[data-testid="transfer-target"]').focus()`);
    await p.shot('call-transfer');
    await p.evaluate(`document.querySelector('[data-testid="transfer-cancel"]').click()`);
    await p.click('hangup-button');
    await sleep(200);
    await p.shot('call-ended');
  },
  async held(p) {
    await p.open('?call=held');
    await p.shot('call-held');
    await p.open('?call=their-hold');
    await p.shot('call-their-hold');
  },
  async 'two-calls'(p) {
    await p.open('?call=two');
    await sleep(1100);
    await p.shot('call-two');
  },
  async contacts(p) {
    await p.open('?contacts=demo&accounts=one');
    await p.click('contacts-button');
    await sleep(200);
    await p.shot('contacts');
    await p.click('contact-add');
    await p.type('contact-name', 'Erin Novak');
    await p.shot('contact-new');
    await p.click('contact-save');
    await sleep(100);
    await p.evaluate(`document.querySelector('[data-filter="favorites"]').click()`);
    await sleep(200);
    await p.shot('contacts-favorites');
  },
  async preferences(p) {
    await p.open('?accounts=one');
    await p.click('settings-button');
    await sleep(300);
    await p.evaluate(`document.querySelector('[data-testid="prefs-general"]').scrollIntoView()`);
    await p.shot('settings-preferences');
  },
  async incoming(p) {
    await p.open('?incoming=now');
    await p.shot('incoming');
    await p.open('?call=active&incoming=now');
    await p.shot('incoming-while-in-call');
  },
};

const only = process.env.SCENES?.split(',');
try {
  for (const theme of ['light', 'dark']) {
    for (const [name, scene] of Object.entries(scenes)) {
      if (only && !only.includes(name)) continue;
      const p = await page(theme);
      await scene(p);
      await p.close();
    }
  }
} finally {
  ws.close();
  chrome.kill();
  server.close();
  await sleep(200);
  rmSync(profile, { recursive: true, force: true });
}
