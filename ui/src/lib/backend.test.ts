import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendError, connectBackend, createBackend, inTauri, toBackendError } from './backend';
import type { InvokeFn, ListenFn } from './types';

const noListen: ListenFn = async () => () => {};

/** A backend whose transport records every call and answers from `reply`. */
function recording(reply: (cmd: string, args: Record<string, unknown>) => unknown) {
  const calls: Array<[string, Record<string, unknown>]> = [];
  const invoke: InvokeFn = async (cmd, args) => {
    calls.push([cmd, args]);
    return reply(cmd, args);
  };
  return { calls, backend: createBackend(invoke, noListen, 'tauri') };
}

describe('command contract', () => {
  it('sends the exact command names and argument names the Rust side expects', async () => {
    const view = { text: '1', canCall: true };
    const { calls, backend } = recording((cmd) => {
      if (cmd === 'app_info') return { version: '1.0.0', accountsConfigured: false };
      if (cmd === 'start_echo_test') return { message: 'ok' };
      if (cmd === 'dial' || cmd === 'open_account_setup') return null;
      return view;
    });
    await backend.appInfo();
    await backend.dialerPress('5');
    await backend.dialerBackspace();
    await backend.dialerPaste('+49 30');
    await backend.dialerClear();
    await backend.dial('+4930');
    await backend.openAccountSetup();
    await backend.startEchoTest();
    expect(calls).toEqual([
      ['app_info', {}],
      ['dialer_press', { key: '5' }],
      ['dialer_backspace', {}],
      ['dialer_paste', { text: '+49 30' }],
      ['dialer_clear', {}],
      ['dial', { target: '+4930' }],
      ['open_account_setup', {}],
      ['start_echo_test', {}],
    ]);
  });

  it('turns rejections into BackendError with the engine message', async () => {
    const { backend } = recording(() => {
      throw { code: 'no_account', message: 'Set up an account first.' };
    });
    const error = await backend.dial('1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(error).toMatchObject({ code: 'no_account', message: 'Set up an account first.' });
  });

  it('refuses replies that do not match the contract (e.g. snake_case fields)', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { backend } = recording((cmd) =>
      cmd === 'app_info' ? { version: '1', accounts_configured: true } : { text: '1', can_call: true },
    );
    await expect(backend.dialerPress('1')).rejects.toMatchObject({ code: 'bad_reply' });
    await expect(backend.appInfo()).rejects.toMatchObject({ code: 'bad_reply' });
    vi.restoreAllMocks();
  });

  it('accepts a plain string as the echo test reply', async () => {
    const { backend } = recording(() => 'Echo test started.');
    expect(await backend.startEchoTest()).toEqual({ message: 'Echo test started.' });
  });

  it('forwards event payloads to subscribers', async () => {
    const handlers: Array<(payload: unknown) => void> = [];
    const listen: ListenFn = async (_event, handler) => {
      handlers.push(handler);
      return () => {};
    };
    const backend = createBackend(async () => null, listen, 'tauri');
    const seen: unknown[] = [];
    await backend.onEvent<{ state: string }>('registration-changed', (p) => seen.push(p.state));
    handlers[0]?.({ state: 'registered' });
    expect(seen).toEqual(['registered']);
  });
});

describe('toBackendError', () => {
  it('reads { code, message } objects', () => {
    expect(toBackendError({ code: 'x', message: 'Nope.' })).toMatchObject({ code: 'x', message: 'Nope.' });
  });

  it('reads plain strings (what Tauri gives for a missing command)', () => {
    expect(toBackendError('command dial not found')).toMatchObject({
      code: 'error',
      message: 'command dial not found',
    });
  });

  it('reads Error objects and falls back to a human sentence', () => {
    expect(toBackendError(new Error('boom')).message).toBe('boom');
    for (const odd of [undefined, null, 42, '', { code: 'c' }, { message: '  ' }]) {
      const error = toBackendError(odd);
      expect(error.message, JSON.stringify(odd)).toMatch(/something went wrong/i);
    }
  });
});

describe('connectBackend', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('falls back to the stub outside Tauri', async () => {
    expect(inTauri()).toBe(false);
    const backend = connectBackend();
    expect(backend.kind).toBe('stub');
    expect(await backend.dialerPress('7')).toEqual({ text: '7', canCall: true });
  });

  it('uses Tauri IPC when __TAURI_INTERNALS__ is present', async () => {
    vi.stubGlobal('window', {});
    const seen: string[] = [];
    mockIPC((cmd, payload) => {
      seen.push(`${cmd} ${JSON.stringify(payload)}`);
      if (cmd === 'app_info') return { version: '9.9.9', accountsConfigured: true };
      return undefined;
    });
    expect(inTauri()).toBe(true);
    const backend = connectBackend();
    expect(backend.kind).toBe('tauri');
    expect(await backend.appInfo()).toEqual({ version: '9.9.9', accountsConfigured: true });
    expect(seen).toEqual(['app_info {}']);
    clearMocks();
  });
});
