// Screen tests: every screen of the real UI, rendered in Debian's Chromium
// (playwright-core) over mocked Tauri IPC (harness.ts), compared with the
// committed baselines in this folder; and keyboard-only flows.
//
//   npm run test:screens                     (part of `npm test`)
//   UPDATE_SCREENS=1 npm run test:screens    (rewrite the baselines after a
//                                             deliberate change; look at them)
//
// A screen passes when at most MAX_DIFF_SHARE of its pixels differ by more
// than CHANNEL_TOLERANCE in some colour channel (anti-aliasing noise). A
// failing screen is written beside its baseline's name under $TMPDIR.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';

const here = import.meta.dirname;
const root = resolve(here, '..', '..');
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const update = process.env.UPDATE_SCREENS === '1';
const failures = join(tmpdir(), 'homeline-screen-failures');
const CHANNEL_TOLERANCE = 40;
const MAX_DIFF_SHARE = 0.004;
/** Every screen sees the same moment (history times, call timers). */
const NOW = new Date('2026-03-02T09:30:00Z');
/** Generous: the machine may be busy; a condition, not a guess. */
const WAIT_MS = 15_000;

if (!existsSync(browserPath)) {
  console.error(`screen tests: no Chromium at ${browserPath}. Install the Debian package "chromium" (scripts/debian-packages.txt; make setup does it).`);
  process.exit(1);
}

const server = await createServer({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'error', server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false } });
await server.listen();
const { port } = server.httpServer.address();
const base = `http://127.0.0.1:${port}/tests/screens/harness.html`;
const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox', '--disable-gpu', '--font-render-hinting=none'] });

async function open(query = '', colorScheme = 'light') {
  const context = await browser.newContext({ viewport: { width: 360, height: 640 }, deviceScaleFactor: 1, colorScheme, locale: 'en-GB', timezoneId: 'UTC', reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.clock.setFixedTime(NOW);
  await page.goto(base + query);
  await page.getByTestId('dial-display').or(page.getByTestId('incoming-screen')).or(page.getByTestId('call-screen')).first().waitFor({ state: 'attached', timeout: WAIT_MS });
  return { page, context, errors };
}

/** Fraction of pixels that differ beyond the tolerance (1 when the sizes differ). */
async function difference(page, a, b) {
  return page.evaluate(
    async ([a, b, tolerance]) => {
      const load = async (data) => createImageBitmap(await (await fetch(`data:image/png;base64,${data}`)).blob());
      const [x, y] = await Promise.all([load(a), load(b)]);
      if (x.width !== y.width || x.height !== y.height) return 1;
      const pixels = (bitmap) => {
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d');
        ctx.drawImage(bitmap, 0, 0);
        return ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      };
      const [p, q] = [pixels(x), pixels(y)];
      let differing = 0;
      for (let i = 0; i < p.length; i += 4) {
        if (Math.abs(p[i] - q[i]) > tolerance || Math.abs(p[i + 1] - q[i + 1]) > tolerance || Math.abs(p[i + 2] - q[i + 2]) > tolerance) differing += 1;
      }
      return differing / (p.length / 4);
    },
    [a.toString('base64'), b.toString('base64'), CHANNEL_TOLERANCE],
  );
}

async function compare(page, name) {
  // No caret, no animation: the same pixels every run.
  const shot = await page.screenshot({ animations: 'disabled', caret: 'hide' });
  const baseline = join(here, `${name}.png`);
  if (update || !existsSync(baseline)) {
    if (!update) throw new Error(`no baseline ${baseline}: run UPDATE_SCREENS=1 npm run test:screens and look at it`);
    writeFileSync(baseline, shot);
    return;
  }
  const share = await difference(page, shot, readFileSync(baseline));
  if (share > MAX_DIFF_SHARE) {
    mkdirSync(failures, { recursive: true });
    const actual = join(failures, `${name}.png`);
    writeFileSync(actual, shot);
    throw new Error(`${name}: ${(share * 100).toFixed(2)} % of the pixels differ from ${baseline} (now: ${actual})`);
  }
}

const visible = (page, testid) => page.getByTestId(testid).first().waitFor({ timeout: WAIT_MS });
const text = async (page, testid, expected) => {
  await page.waitForFunction(([id, want]) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.includes(want), [testid, expected], { timeout: WAIT_MS });
};

/** Press Tab until the element with `testid` has focus (keyboard-only reachability). */
async function tabTo(page, testid) {
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((id) => document.activeElement?.getAttribute('data-testid') === id, testid)) return;
  }
  throw new Error(`Tab never reaches ${testid}`);
}

// Each case: a name and what it does; screens are compared with `compare`.
const cases = {
  async 'screens: dialer, no account (light and dark)'() {
    for (const scheme of ['light', 'dark']) {
      const { page, context } = await open('', scheme);
      await visible(page, 'no-account-banner');
      await compare(page, `dialer-no-account-${scheme}`);
      await context.close();
    }
  },
  async 'screens: dialer with a registered account'() {
    const { page, context } = await open('?accounts=one');
    await text(page, 'header-account-state', 'Registered');
    await compare(page, 'dialer-registered');
    await context.close();
  },
  async 'screens: setup form'() {
    const { page, context } = await open();
    await page.getByTestId('setup-button').click();
    await visible(page, 'account-form');
    await compare(page, 'setup-form');
    await context.close();
  },
  async 'screens: incoming call and call in progress'() {
    const { page, context } = await open('?incoming=now');
    await text(page, 'incoming-name', 'Bob Stone');
    await compare(page, 'incoming');
    await context.close();
    const active = await open('?call=active');
    await text(active.page, 'call-state', 'Connected');
    // The first callStats comes a second after the call connected.
    await active.page.waitForFunction(() => document.querySelector('[data-testid="call-quality"]')?.getAttribute('data-level') === 'good', null, { timeout: WAIT_MS });
    await compare(active.page, 'call-active');
    await active.context.close();
  },
  async 'screens: a call on a poor network (quality details, warnings) and one reconnecting'() {
    const { page, context, errors } = await open('?call=poor');
    await visible(page, 'call-warnings');
    await text(page, 'call-warnings', 'dropping 6 % of packets');
    const label = await page.getByTestId('call-quality').getAttribute('aria-label');
    if (label !== 'Call quality poor: MOS 3.1, Jitter 48 ms, Loss 6.0 %, Round trip 180 ms, Codec opus') throw new Error(`quality label: ${label}`);
    // The details open from the keyboard too, and Escape closes them.
    await tabTo(page, 'call-quality');
    await page.keyboard.press('Enter');
    await text(page, 'quality-details', 'Round trip 180 ms');
    await compare(page, 'call-quality-poor');
    await page.keyboard.press('Escape');
    await page.getByTestId('quality-details').waitFor({ state: 'detached', timeout: WAIT_MS });
    await text(page, 'call-state', 'Connected'); // Escape never hangs up
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
    const lost = await open('?call=reconnecting');
    // The clock is fixed: the media path was lost 5 s before "now".
    await text(lost.page, 'call-reconnecting', 'Reconnecting… 5 s');
    await compare(lost.page, 'call-reconnecting');
    await lost.context.close();
  },
  async 'keyboard: Add call keeps the call, Merge makes a conference, Split takes one out'() {
    const { page, context, errors } = await open('?call=active');
    await text(page, 'call-state', 'Connected');
    await tabTo(page, 'add-call-button');
    await page.keyboard.press('Enter');
    await text(page, 'back-to-call', 'Dana Weber');
    await page.keyboard.type('2002');
    await text(page, 'dial-display', '2002');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="call-item"]').length === 2, null, { timeout: WAIT_MS });
    await text(page, 'call-state', 'Connected');
    await tabTo(page, 'merge-button');
    await page.keyboard.press('Enter');
    await text(page, 'conference-line', 'Conference · 2 calls');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="conference-member"]').length === 2, null, { timeout: WAIT_MS });
    await tabTo(page, 'split-button');
    await page.keyboard.press('Enter');
    await page.getByTestId('conference-line').waitFor({ state: 'detached', timeout: WAIT_MS });
    await visible(page, 'merge-button');
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'screens: history'() {
    const { page, context } = await open('?history=demo&accounts=one');
    await page.getByTestId('history-button').click();
    await visible(page, 'history-row');
    await compare(page, 'history');
    await context.close();
  },
  async 'screens: contacts, new contact, settings (light and dark)'() {
    for (const scheme of ['light', 'dark']) {
      const { page, context } = await open('?contacts=demo&accounts=one', scheme);
      await page.getByTestId('contacts-button').click();
      await visible(page, 'contact-row');
      await compare(page, `contacts-${scheme}`);
      await page.getByTestId('contact-add').click();
      await visible(page, 'contact-form');
      await compare(page, `contact-new-${scheme}`);
      await context.close();
    }
    const { page, context } = await open('?accounts=one');
    await page.getByTestId('settings-button').click();
    await visible(page, 'account-item');
    await visible(page, 'about-version');
    await compare(page, 'settings');
    await page.getByTestId('prefs-general').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await compare(page, 'settings-preferences');
    await page.getByTestId('prefs-network').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await page.getByTestId('network-check').click();
    await visible(page, 'network-findings');
    await compare(page, 'settings-network');
    await context.close();
  },
  async 'settings → audio: devices by keyboard, fall-back, ringtone refused in words, live meters in a call'() {
    const { page, context, errors } = await open('?call=active');
    await page.getByTestId('settings-button').click();
    await visible(page, 'audio-input-0');
    // Keyboard only: Tab to the microphone select, arrows choose the headset; the
    // "Then" select appears and focus stays where it was.
    await tabTo(page, 'audio-input-0');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await visible(page, 'audio-input-1');
    const state = await page.evaluate(() => [document.activeElement?.getAttribute('data-testid'), document.querySelector('[data-testid=audio-input-0]').value]);
    if (state.join('|') !== 'audio-input-0|pulse:headset') throw new Error(`after the arrows: ${state}`);
    await tabTo(page, 'ringtone-path');
    await page.keyboard.type('/home/alice/Music/missing.wav');
    await page.keyboard.press('Enter');
    await text(page, 'ringtone-error', 'could not be opened');
    await page.waitForFunction(() => document.querySelector('[data-testid=meter-input]')?.getAttribute('aria-valuenow') === '-21', null, { timeout: WAIT_MS });
    await page.getByTestId('prefs-audio').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await compare(page, 'settings-audio');
    await page.getByTestId('audio-meters').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await compare(page, 'settings-audio-meters');
    // "Choose a file…" by keyboard: the desktop's file dialog (the stub answers a
    // WAV) fills the field, the ringtone is saved and the refusal goes.
    await tabTo(page, 'ringtone-choose');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid=ringtone-path]')?.value === '/home/alice/Music/office-ring.wav', null, { timeout: WAIT_MS });
    await visible(page, 'ringtone-builtin');
    if (await page.getByTestId('ringtone-error').count()) throw new Error('the refusal stays after a file was chosen');
    // The call ends: outside a call the microphone is open for the meter while Settings
    // is shown, and the window says so; leaving Settings closes it.
    await page.getByTestId('settings-button').click();
    await page.getByTestId('hangup-button').click();
    await page.getByTestId('settings-button').click();
    await text(page, 'mic-in-use', 'Microphone on: Built-in Microphone');
    await text(page, 'meters-hint', 'Speak to see your microphone');
    await page.waitForFunction(() => document.querySelector('[data-testid=meter-input]')?.getAttribute('aria-valuenow') === '-33', null, { timeout: WAIT_MS });
    await page.getByTestId('audio-meters').evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await compare(page, 'settings-audio-mic');
    await page.getByTestId('settings-button').click();
    await page.waitForFunction(() => window.homelineStub.micMeter === null, null, { timeout: WAIT_MS });
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'microphone: the first echo test waits for the explanation; the header shows the microphone on every screen'() {
    const { page, context, errors } = await open('?mic=new&echo=4000');
    await visible(page, 'no-account-banner');
    if (await page.getByTestId('mic-indicator').count()) throw new Error('the microphone shows as on while idle');
    await page.getByTestId('echo-test-button').click();
    await text(page, 'mic-notice-lead', 'The echo test records your voice');
    await text(page, 'mic-notice', 'never while idle');
    await text(page, 'mic-notice', 'Your system may ask you to allow it.');
    // Nothing is open until the answer; the answer has focus (keyboard).
    if (await page.evaluate(() => window.homelineStub.echoTest)) throw new Error('the echo test started before the explanation was answered');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'mic-notice-accept', null, { timeout: WAIT_MS });
    await compare(page, 'mic-first-echo-test');
    await page.keyboard.press('Enter');
    await visible(page, 'mic-indicator');
    await page.getByTestId('mic-notice').waitFor({ state: 'detached', timeout: WAIT_MS });
    const label = await page.getByTestId('mic-indicator-status').textContent();
    if (!label?.includes('Microphone on for the echo test')) throw new Error(`the indicator says ${label}`);
    if (!(await page.evaluate(() => window.homelineStub.echoTest && window.homelineStub.desktopPrefs.micExplained === true))) throw new Error('the echo test did not start, or the explanation was not saved');
    await compare(page, 'mic-on-echo-test');
    // On every screen while it runs.
    for (const [button, screen] of [['history-button', 'history-screen'], ['contacts-button', 'contacts-screen'], ['settings-button', 'settings-screen']]) {
      await page.getByTestId(button).click();
      await visible(page, screen);
      await visible(page, 'mic-indicator');
    }
    await page.getByTestId('settings-button').click();
    await visible(page, 'no-account-banner');
    // The echo test ends: the microphone closes and the header says nothing.
    await page.getByTestId('mic-indicator').waitFor({ state: 'detached', timeout: WAIT_MS });
    // Next time it is not explained again.
    await page.getByTestId('echo-test-button').click();
    await visible(page, 'mic-indicator');
    if (await page.getByTestId('mic-notice').count()) throw new Error('the explanation was shown twice');
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'microphone: the first call is explained beside it, never in its way (Enter still answers)'() {
    const { page, context, errors } = await open('?mic=new&incoming=now');
    await text(page, 'incoming-name', 'Bob Stone');
    await text(page, 'mic-notice-lead', 'Answering turns your microphone on');
    if (await page.getByTestId('mic-indicator').count()) throw new Error('the microphone shows as on while the call only rings');
    await compare(page, 'mic-first-incoming');
    await page.keyboard.press('Enter');
    await text(page, 'call-state', 'Connected');
    await text(page, 'mic-notice-lead', 'Your microphone is on for this call');
    await visible(page, 'mic-indicator');
    await page.waitForFunction(() => document.querySelector('[data-testid="call-quality"]')?.getAttribute('data-level') === 'good', null, { timeout: WAIT_MS });
    await compare(page, 'mic-first-call');
    await page.getByTestId('hangup-button').click();
    await page.getByTestId('mic-notice').waitFor({ state: 'detached', timeout: WAIT_MS });
    await page.getByTestId('mic-indicator').waitFor({ state: 'detached', timeout: WAIT_MS });
    if (!(await page.evaluate(() => window.homelineStub.desktopPrefs.micExplained === true))) throw new Error('a call with the explanation beside it did not count');
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'microphone: the first settings meter waits; "Not now" keeps it closed'() {
    const { page, context, errors } = await open('?mic=new&accounts=one');
    await page.getByTestId('settings-button').click();
    await text(page, 'mic-notice-lead', 'The level meter in Settings');
    if (await page.evaluate(() => window.homelineStub.micMeter !== null)) throw new Error('the meter opened the microphone before the explanation was answered');
    await page.getByTestId('mic-notice-decline').click();
    await page.getByTestId('mic-notice').waitFor({ state: 'detached', timeout: WAIT_MS });
    await text(page, 'meters-hint', 'The meter is off');
    if (await page.getByTestId('mic-indicator').count()) throw new Error('the microphone shows as on');
    if (await page.evaluate(() => window.homelineStub.micMeter !== null || window.homelineStub.desktopPrefs.micExplained)) throw new Error('"Not now" opened the microphone or was saved as explained');
    // Settings again: asked again; "Continue" opens it and the header says so.
    await page.getByTestId('settings-button').click();
    await page.getByTestId('settings-button').click();
    await page.getByTestId('mic-notice-accept').click();
    await text(page, 'mic-in-use', 'Microphone on: Built-in Microphone');
    await visible(page, 'mic-indicator');
    await page.getByTestId('settings-button').click();
    await page.getByTestId('mic-indicator').waitFor({ state: 'detached', timeout: WAIT_MS });
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'history: "Add to contacts" opens the form filled in, and the contact is saved'() {
    const { page, context } = await open('?history=demo&accounts=one');
    await page.getByTestId('history-button').click();
    await visible(page, 'history-row');
    await page.locator('[data-testid=history-row]', { hasText: 'Bob Stone' }).getByTestId('history-add-contact').click();
    await visible(page, 'contact-form');
    const filled = await page.evaluate(() => [document.querySelector('[data-testid=contact-name]').value, document.querySelector('[data-testid=contact-number]').value]);
    if (filled.join('|') !== 'Bob Stone|bob@pbx.example.com') throw new Error(`the form was filled with ${filled}`);
    await page.getByTestId('contact-save').click();
    await text(page, 'contact-row-name', 'Bob Stone');
    await context.close();
  },
  async 'keyboard: dial a number and hang up without the mouse'() {
    const { page, context, errors } = await open('?accounts=one');
    await text(page, 'header-account-state', 'Registered');
    await page.keyboard.type('2002');
    await text(page, 'dial-display', '2002');
    await page.keyboard.press('Enter');
    await text(page, 'call-state', 'Connected');
    // Hang up is a button: Tab to it and press Enter.
    await tabTo(page, 'hangup-button');
    await page.keyboard.press('Enter');
    await visible(page, 'call-ended');
    if (errors.length) throw new Error(errors.join('\n'));
    await context.close();
  },
  async 'keyboard: answer an incoming call with Enter'() {
    const { page, context } = await open('?incoming=now');
    await text(page, 'incoming-name', 'Bob Stone');
    await page.keyboard.press('Enter');
    await text(page, 'call-state', 'Connected');
    await context.close();
  },
  async 'keyboard: add a contact, star it, find it'() {
    const { page, context } = await open('?accounts=one');
    await text(page, 'header-account-state', 'Registered');
    await tabTo(page, 'contacts-button');
    await page.keyboard.press('Enter');
    await visible(page, 'contacts-empty');
    await tabTo(page, 'contact-add');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Erin Novak'); // the name field has focus
    await tabTo(page, 'contact-number');
    await page.keyboard.type('+44 20 7946 0958');
    await page.keyboard.press('Enter'); // submits the form
    await text(page, 'contact-row-name', 'Erin Novak');
    await text(page, 'status-line', 'Erin Novak was added to your contacts.');
    await tabTo(page, 'contact-star');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('[data-testid="contact-star"]')?.getAttribute('aria-pressed') === 'true', null, { timeout: WAIT_MS });
    await page.keyboard.press('Escape');
    await page.getByTestId('dial-display').waitFor({ state: 'attached', timeout: WAIT_MS });
    await context.close();
  },
};

let failed = 0;
try {
  for (const [name, run] of Object.entries(cases)) {
    try {
      await run();
      console.log(`ok   ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${String(error?.message ?? error).split('\n').join('\n     ')}`);
    }
  }
} finally {
  await browser.close();
  await server.close();
}
if (update) console.log(`baselines written to ${here}: look at them before committing`);
console.log(failed ? `${failed} screen test(s) failed` : 'screen tests passed');
process.exit(failed ? 1 : 0);
