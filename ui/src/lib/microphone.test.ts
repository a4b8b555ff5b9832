import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppModel } from './app.svelte';
import { AudioSettingsModel, METER_DECLINED } from './audio-settings.svelte';
import { createBackend } from './backend';
import { createBackendStub, type StubOptions } from './backend-stub';
import { callHasMicrophone, indicatorWords, microphoneUses, noticeText, waitsForConsent } from './microphone';
import { MicrophoneModel } from './microphone.svelte';
import { PrefsModel } from './prefs.svelte';
import { StatusLine } from './status.svelte';
import type { CallView, InvokeFn } from './types';

const call = (state: CallView['state'], extra: Record<string, unknown> = {}) =>
  ({ call: 'c1', account: 'alice@pbx.example.com', remote: '2002', remoteName: null, outgoing: true, state, ...extra }) as CallView;

describe('when the microphone is open', () => {
  it('a call has it from the dial or the answer until it ends (held too), not while it rings in', () => {
    for (const state of ['dialing', 'ringing', 'early_media', 'active'] as const) expect(callHasMicrophone(call(state)), state).toBe(true);
    expect(callHasMicrophone(call('held', { by_me: true }))).toBe(true);
    expect(callHasMicrophone(call('incoming'))).toBe(false);
    expect(callHasMicrophone(call('incoming'), true)).toBe(true);
    expect(callHasMicrophone(call('ended', { reason: 'hung up', code: null, by: 'local' }))).toBe(false);
  });

  it('the header says what has it, and nothing when it is closed', () => {
    expect(indicatorWords(microphoneUses({ calls: 0, echoTest: false, meter: false }))).toBeNull();
    expect(indicatorWords(microphoneUses({ calls: 2, echoTest: false, meter: false }))).toBe('Microphone on for a call');
    expect(indicatorWords(microphoneUses({ calls: 0, echoTest: true, meter: false }))).toBe('Microphone on for the echo test');
    expect(indicatorWords(microphoneUses({ calls: 0, echoTest: false, meter: true }))).toBe('Microphone on for the level meter');
    expect(indicatorWords(microphoneUses({ calls: 1, echoTest: true, meter: true }))).toBe('Microphone on for a call, the echo test and the level meter');
  });

  it('the explanation says why, when it opens and that the system may ask; a call never waits for it', () => {
    for (const purpose of ['call', 'incoming', 'echo', 'meter'] as const) {
      const text = noticeText(purpose);
      expect(text.rules).toContain('only during calls, the echo test and the level meter, never while idle');
      expect(text.rules).toContain('Your system may ask you to allow it.');
      expect(text.decline === null).toBe(!waitsForConsent(purpose));
    }
    expect(waitsForConsent('call')).toBe(false);
    expect(waitsForConsent('incoming')).toBe(false);
    expect(noticeText('incoming').lead).toBe('Answering turns your microphone on, so the caller hears you.');
    expect(noticeText('echo').accept).toBe('Continue');
    expect(noticeText('call').accept).toBe('Got it');
  });
});

function setup(options: StubOptions = { micExplained: false }, wrap: (invoke: InvokeFn) => InvokeFn = (i) => i) {
  const stub = createBackendStub(options);
  const backend = createBackend(wrap(stub.invoke), stub.listen, 'stub');
  const status = new StatusLine();
  const prefs = new PrefsModel(backend, status);
  const microphone = new MicrophoneModel(backend, prefs);
  const app = new AppModel(backend, status, microphone);
  return { stub, backend, status, prefs, microphone, app };
}

/** Let the stub's replies and the models' promises settle. */
const settle = async () => {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
};

describe('MicrophoneModel', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('follows the echo test and the meter, and a reopened window asks what is open now', async () => {
    const { stub, microphone, backend } = setup({ micExplained: true, echoTestMs: 50 });
    await microphone.follow();
    await microphone.start();
    expect([microphone.echoTest, microphone.meter]).toEqual([false, null]);
    await backend.startEchoTest();
    expect(microphone.echoTest).toBe(true);
    // A window opened meanwhile learns it from the engine.
    const reopened = new MicrophoneModel(backend, new PrefsModel(backend, new StatusLine()));
    await reopened.start();
    expect(reopened.echoTest).toBe(true);
    await backend.startMicMeter();
    expect(microphone.meter).toBe('pulse:mic');
    await vi.waitFor(() => expect(microphone.echoTest).toBe(false));
    expect(stub.echoTest).toBe(false);
    await backend.stopMicMeter();
    expect(microphone.meter).toBeNull();
  });

  it('the echo test waits for the first-use explanation: "Not now" keeps the microphone closed, "Continue" opens it and is remembered', async () => {
    const { stub, microphone, app, status } = setup({ micExplained: false, echoTestMs: 60_000 });
    await microphone.follow();
    const first = app.startEchoTest();
    await settle();
    expect(microphone.notice).toBe('echo');
    expect(stub.echoTest).toBe(false);
    microphone.decline();
    await first;
    expect(stub.echoTest).toBe(false);
    expect(microphone.notice).toBeNull();
    expect(status.current?.text).toBe('The echo test did not start: your microphone stays off.');
    expect(stub.desktopPrefs.micExplained).toBe(false);

    const second = app.startEchoTest();
    await settle();
    expect(microphone.notice).toBe('echo');
    await microphone.accept();
    await second;
    expect(stub.echoTest).toBe(true);
    expect(microphone.echoTest).toBe(true);
    expect(stub.desktopPrefs.micExplained).toBe(true);

    // Next run: the preference says it was explained; nothing waits.
    const next = setup({ micExplained: true });
    await next.app.startEchoTest();
    expect(next.microphone.notice).toBeNull();
    expect(next.stub.echoTest).toBe(true);
  });

  it('the settings meter waits too; leaving Settings withdraws the question', async () => {
    const { stub, microphone, backend, status } = setup();
    const audio = new AudioSettingsModel(backend, status, { permit: () => microphone.permit('meter'), withdraw: () => microphone.withdraw('meter') });
    const opening = audio.openMeter();
    await settle();
    expect(microphone.notice).toBe('meter');
    expect(stub.micMeter).toBeNull();
    await audio.closeMeter();
    await opening;
    expect(microphone.notice).toBeNull();
    expect(stub.micMeter).toBeNull();

    const again = audio.openMeter();
    await settle();
    microphone.decline();
    await again;
    expect(stub.micMeter).toBeNull();
    expect(audio.micNote).toBe(METER_DECLINED);

    const third = audio.openMeter();
    await settle();
    await microphone.accept();
    await third;
    expect(stub.micMeter).toBe('pulse:mic');
    expect(audio.micOpen).toBe('pulse:mic');
  });

  it('a call never waits: the explanation shows beside it, and counts as given once the call ends', async () => {
    const { stub, microphone } = setup();
    await microphone.start();
    microphone.observeCalls(0, true);
    expect(microphone.notice).toBe('incoming');
    // Not answered: the microphone never opened; the explanation comes back next time.
    microphone.observeCalls(0, false);
    expect(microphone.notice).toBeNull();
    expect(microphone.explained).toBe(false);

    microphone.observeCalls(1, false);
    expect(microphone.notice).toBe('call');
    microphone.observeCalls(0, false);
    await settle();
    expect(microphone.notice).toBeNull();
    expect(microphone.explained).toBe(true);
    expect(stub.desktopPrefs.micExplained).toBe(true);
    microphone.observeCalls(1, false);
    expect(microphone.notice).toBeNull();
  });

  it('"Got it" during a call is remembered; a meter waiting when a call starts does not open', async () => {
    const { stub, microphone } = setup();
    const meter = microphone.permit('meter');
    await settle();
    expect(microphone.notice).toBe('meter');
    microphone.observeCalls(1, false);
    expect(await meter).toBe(false);
    expect(microphone.notice).toBe('call');
    await microphone.accept();
    expect(microphone.notice).toBeNull();
    expect(stub.desktopPrefs.micExplained).toBe(true);
  });

  it('an unreadable preference still explains, and an accepted one holds for the run', async () => {
    const { microphone } = setup({ micExplained: true }, (invoke) => async (cmd, args) => {
      if (cmd === 'get_desktop_prefs' || cmd === 'set_desktop_prefs') throw { code: 'settings', message: 'unreadable' };
      return invoke(cmd, args);
    });
    const asked = microphone.permit('echo');
    await settle();
    expect(microphone.notice).toBe('echo');
    await microphone.accept();
    expect(await asked).toBe(true);
    expect(await microphone.permit('meter')).toBe(true);
  });

  it('other settings saved later keep the explanation', async () => {
    const { stub, microphone, prefs } = setup();
    const asked = microphone.permit('echo');
    await settle();
    await microphone.accept();
    await asked;
    await prefs.load();
    await prefs.set('startAtLogin', true);
    expect(stub.desktopPrefs).toMatchObject({ startAtLogin: true, micExplained: true });
  });
});
