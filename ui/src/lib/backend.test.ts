import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BackendError, connectBackend, createBackend, inTauri, toBackendError } from './backend';
import type { InvokeFn, ListenFn } from './types';

const noListen: ListenFn = async () => () => {};

/** An AccountView exactly as the Rust side serializes it (nested account in snake_case). */
const ACCOUNT_VIEW = {
  id: 'alice@pbx.test',
  account: {
    address: 'alice@pbx.test',
    auth_user: null,
    display_name: 'Alice',
    server: 'wss://pbx.test',
    outbound_proxy: null,
    expires: 600,
    tls: { ca_file: null, fingerprint_sha256: null },
  },
  enabled: true,
  isDefault: true,
  unencrypted: false,
  hasPassword: true,
  registration: { state: 'retrying', in_seconds: 4 },
};

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
      if (cmd === 'dial') return 'call-1@host';
      if (cmd === 'list_calls') return [];
      if (['remove_account', 'set_default_account', 'answer', 'reject', 'hangup', 'hold', 'mute', 'send_dtmf', 'transfer', 'set_do_not_disturb'].includes(cmd)) return null;
      if (cmd === 'list_accounts') return [];
      if (cmd === 'save_account') return ACCOUNT_VIEW;
      return view;
    });
    await backend.appInfo();
    await backend.dialerPress('5');
    await backend.dialerBackspace();
    await backend.dialerPaste('+49 30');
    await backend.dialerClear();
    await backend.dial('+4930');
    await backend.startEchoTest();
    await backend.listAccounts();
    await backend.saveAccount({ address: 'alice@pbx.test', server: 'wss://pbx.test', password: 'pw', makeDefault: true });
    await backend.removeAccount('alice@pbx.test');
    await backend.setDefaultAccount('alice@pbx.test');
    expect(await backend.dial('bob', 'alice@pbx.test')).toBe('call-1@host');
    await backend.listCalls();
    await backend.answer('c1');
    await backend.reject('c1');
    await backend.reject('c1', true);
    await backend.hangup('c1');
    await backend.hold('c1', true);
    await backend.mute('c1', false);
    await backend.sendDtmf('c1', '5#');
    await backend.transfer('c1', '+4930');
    await backend.setDoNotDisturb(true);
    expect(calls).toEqual([
      ['app_info', {}],
      ['dialer_press', { key: '5' }],
      ['dialer_backspace', {}],
      ['dialer_paste', { text: '+49 30' }],
      ['dialer_clear', {}],
      ['dial', { target: '+4930' }],
      ['start_echo_test', {}],
      ['list_accounts', {}],
      ['save_account', { input: { address: 'alice@pbx.test', server: 'wss://pbx.test', password: 'pw', makeDefault: true } }],
      ['remove_account', { id: 'alice@pbx.test' }],
      ['set_default_account', { id: 'alice@pbx.test' }],
      ['dial', { target: 'bob', account: 'alice@pbx.test' }],
      ['list_calls', {}],
      ['answer', { call: 'c1' }],
      ['reject', { call: 'c1', busy: false }],
      ['reject', { call: 'c1', busy: true }],
      ['hangup', { call: 'c1' }],
      ['hold', { call: 'c1', on: true }],
      ['mute', { call: 'c1', on: false }],
      ['send_dtmf', { call: 'c1', digits: '5#' }],
      ['transfer', { call: 'c1', target: '+4930' }],
      ['set_do_not_disturb', { on: true }],
    ]);
  });

  it('refuses a dial reply that is not a call id', async () => {
    const { backend } = recording(() => null);
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    await expect(backend.dial('1')).rejects.toMatchObject({ code: 'bad_reply' });
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

  it('reads accounts in the engine\'s shape and refuses malformed ones', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { backend } = recording(() => [ACCOUNT_VIEW, { ...ACCOUNT_VIEW, id: 'bob@pbx.test', registration: null }]);
    const list = await backend.listAccounts();
    expect(list[0]).toEqual(ACCOUNT_VIEW);
    expect(list[1]?.registration).toBeNull();

    for (const bad of [
      { ...ACCOUNT_VIEW, is_default: true, isDefault: undefined },
      { ...ACCOUNT_VIEW, account: { ...ACCOUNT_VIEW.account, displayName: 'x', display_name: 5 } },
      { ...ACCOUNT_VIEW, registration: { state: 'registered' } },
      { ...ACCOUNT_VIEW, registration: { state: 'dancing' } },
    ]) {
      const { backend: b } = recording(() => bad);
      await expect(b.saveAccount({ address: 'a@b', server: 'wss://b' }), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'bad_reply',
      });
    }
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
