import { describe, expect, it } from 'vitest';
import { AppModel } from './app.svelte';
import { createBackend, type Backend } from './backend';
import { createBackendStub, type StubOptions } from './backend-stub';
import { DialerModel } from './dialer.svelte';
import { MAX_PASTE_LENGTH } from './keys';
import { StatusLine } from './status.svelte';
import type { InvokeFn } from './types';

/** Stub backend whose transport is observable (and can be overridden per command). */
function setup(options: StubOptions = {}, override: Record<string, InvokeFn> = {}) {
  const stub = createBackendStub(options);
  const calls: Array<[string, Record<string, unknown>]> = [];
  const invoke: InvokeFn = (cmd, args) => {
    calls.push([cmd, args]);
    return (override[cmd] ?? stub.invoke)(cmd, args);
  };
  const backend: Backend = createBackend(invoke, stub.listen, 'stub');
  const status = new StatusLine();
  return { stub, calls, status, dialer: new DialerModel(backend, status), app: new AppModel(backend, status) };
}

const commands = (calls: Array<[string, unknown]>) => calls.map(([cmd]) => cmd);

describe('DialerModel', () => {
  it('shows numbers the engine sets from elsewhere (engine events)', async () => {
    const { stub, dialer } = setup();
    await dialer.follow();
    stub.emit('engine', { type: 'dialerChanged', text: '18003569377', canCall: true });
    expect(dialer.text).toBe('18003569377');
    expect(dialer.canCall).toBe(true);
    stub.emit('engine', { type: 'ready', version: '0.1.0' });
    stub.emit('engine', { type: 'dialerChanged', text: 42 });
    expect(dialer.text).toBe('18003569377');
  });

  it('shows exactly what the engine returns', async () => {
    const { dialer } = setup();
    await dialer.press('+');
    await dialer.press('9');
    expect(dialer.text).toBe('+9');
    expect(dialer.canCall).toBe(true);
    await dialer.backspace();
    expect(dialer.text).toBe('+');
    expect(dialer.canCall).toBe(false);
  });

  it('applies replies in order even when the engine answers out of order', async () => {
    let n = 0;
    const { dialer } = setup({ delayMs: () => [30, 1, 15, 5][n++ % 4] ?? 0 });
    const typed = '0301234567';
    const pending = [...typed].map((key) => dialer.press(key));
    void dialer.backspace();
    await Promise.all(pending);
    await dialer.settled();
    expect(dialer.text).toBe('030123456');
  });

  it('dials the final text after pending edits, with the engine error in the status line', async () => {
    const { dialer, calls, status } = setup({ delayMs: 5 });
    void dialer.press('1');
    void dialer.press('2');
    await dialer.call();
    expect(calls.at(-1)).toEqual(['dial', { target: '12' }]);
    expect(status.current).toEqual({ kind: 'error', text: 'Set up an account to make calls.' });
    expect(dialer.calling).toBe(false);
  });

  it('does not dial an empty number', async () => {
    const { dialer, calls, status } = setup();
    await dialer.call();
    expect(commands(calls)).not.toContain('dial');
    expect(status.current?.kind).toBe('info');
  });

  it('dials even when canCall is false, so the engine can explain why', async () => {
    const { dialer, calls } = setup();
    await dialer.press('#');
    expect(dialer.canCall).toBe(false);
    await dialer.call();
    expect(calls.at(-1)).toEqual(['dial', { target: '#' }]);
  });

  it('pastes the raw clipboard text, clipped, and ignores blank pastes', async () => {
    const { dialer, calls } = setup();
    await dialer.paste('   ');
    expect(calls).toEqual([]);
    await dialer.paste('+49 (30) 1234');
    expect(calls).toEqual([['dialer_paste', { text: '+49 (30) 1234' }]]);
    expect(dialer.text).toBe('+49301234'); // the engine's cleaning, shown as is
    await dialer.paste('5'.repeat(5000));
    expect((calls.at(-1)?.[1].text as string).length).toBe(MAX_PASTE_LENGTH);
  });

  it('maps keyboard actions to commands', async () => {
    const { dialer, calls } = setup();
    await dialer.perform({ type: 'press', key: '4' });
    await dialer.perform({ type: 'backspace' });
    await dialer.perform({ type: 'clear' });
    await dialer.perform({ type: 'call' });
    expect(calls).toEqual([
      ['dialer_press', { key: '4' }],
      ['dialer_backspace', {}],
      ['dialer_clear', {}],
    ]);
  });

  it('clears an old message when the number is edited, and reports edit errors', async () => {
    const failing: InvokeFn = () => Promise.reject({ code: 'engine_down', message: 'The engine stopped.' });
    const { dialer, status } = setup({}, { dialer_backspace: failing });
    status.error({ code: 'x', message: 'old' });
    await dialer.press('1');
    expect(status.current).toBeNull();
    await dialer.backspace();
    expect(status.current).toEqual({ kind: 'error', text: 'The engine stopped.' });
    expect(dialer.text).toBe('1');
    await dialer.press('2'); // the queue keeps working after a failure
    expect(dialer.text).toBe('12');
  });

  it('reset() shows what the engine holds, through dialer_view', async () => {
    const { dialer, calls } = setup();
    await dialer.reset();
    expect(calls).toEqual([['dialer_view', {}]]);
    expect(dialer.text).toBe('');
  });

  it('reset() keeps a number a clicked link put in while the window was closed', async () => {
    const { dialer } = setup({}, { dialer_view: () => Promise.resolve({ text: '+4930123', canCall: true }) });
    await dialer.reset();
    expect(dialer.text).toBe('+4930123');
    expect(dialer.canCall).toBe(true);
  });
});

describe('AppModel', () => {
  it('asks app_info at start and knows an account is missing', async () => {
    const { app } = setup({ version: '0.1.0' });
    expect(app.needsAccount).toBe(false); // unknown until app_info answers
    await app.start();
    expect(app.info).toEqual({ version: '0.1.0', accountsConfigured: false });
    expect(app.needsAccount).toBe(true);
  });

  it('hides the banner when an account exists', async () => {
    const { app } = setup({ accountsConfigured: true });
    await app.start();
    expect(app.needsAccount).toBe(false);
  });

  it('shows app_info failures in the status line', async () => {
    const { app, status } = setup({}, { app_info: () => Promise.reject('command app_info not found') });
    await app.start();
    expect(app.info).toBeNull();
    expect(status.current).toEqual({ kind: 'error', text: 'command app_info not found' });
  });

  it('shows the echo test message, or its error', async () => {
    const ok = setup();
    await ok.app.startEchoTest();
    expect(ok.status.current).toEqual({ kind: 'info', text: expect.stringMatching(/echo test started/i) });
    expect(ok.app.echoTestPending).toBe(false);

    const failing = setup({}, {
      start_echo_test: () => Promise.reject({ code: 'no_audio_device', message: 'No microphone found.' }),
    });
    await failing.app.startEchoTest();
    expect(failing.status.current).toEqual({ kind: 'error', text: 'No microphone found.' });
  });

  it('ignores a second echo test click while the first is starting', async () => {
    const { app, calls } = setup({ delayMs: 5 });
    const first = app.startEchoTest();
    await app.startEchoTest();
    await first;
    expect(commands(calls).filter((c) => c === 'start_echo_test')).toHaveLength(1);
  });
});
