// Typed wrapper around the Tauri IPC (`invoke` for commands, `listen` for events).
// Outside Tauri (plain browser) it falls back to the in-memory stub in
// backend-stub.ts so the page still works for development and screenshots.

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { createBackendStub, type StubOptions } from './backend-stub';
import type {
  AppInfo,
  CommandName,
  Commands,
  DialerView,
  EchoTestStarted,
  InvokeFn,
  ListenFn,
} from './types';

/** A command failed: `code` is machine-readable, `message` is meant for people. */
export class BackendError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }
}

const FALLBACK_MESSAGE = 'Something went wrong. Please try again.';

/** Turn whatever a rejected `invoke` gave us into a BackendError. */
export function toBackendError(error: unknown): BackendError {
  if (error instanceof BackendError) return error;
  if (typeof error === 'string' && error.trim() !== '') return new BackendError('error', error);
  if (error !== null && typeof error === 'object') {
    const record = error as Record<string, unknown>;
    const code = typeof record.code === 'string' && record.code !== '' ? record.code : 'error';
    if (typeof record.message === 'string' && record.message.trim() !== '') {
      return new BackendError(code, record.message);
    }
    return new BackendError(code, FALLBACK_MESSAGE);
  }
  return new BackendError('error', FALLBACK_MESSAGE);
}

function badReply(cmd: string, value: unknown): BackendError {
  console.warn(`homeline: unexpected reply to ${cmd}`, value);
  return new BackendError('bad_reply', 'The app sent a reply this window does not understand.');
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
}

export function parseDialerView(cmd: string, value: unknown): DialerView {
  const record = asRecord(value);
  if (!record || typeof record.text !== 'string' || typeof record.canCall !== 'boolean') {
    throw badReply(cmd, value);
  }
  return { text: record.text, canCall: record.canCall };
}

export function parseAppInfo(value: unknown): AppInfo {
  const record = asRecord(value);
  if (!record || typeof record.version !== 'string' || typeof record.accountsConfigured !== 'boolean') {
    throw badReply('app_info', value);
  }
  return { version: record.version, accountsConfigured: record.accountsConfigured };
}

export function parseEchoTestStarted(value: unknown): EchoTestStarted {
  if (typeof value === 'string') return { message: value };
  const record = asRecord(value);
  if (!record || typeof record.message !== 'string') throw badReply('start_echo_test', value);
  return { message: record.message };
}

/** True inside the Tauri webview (the shell injects `__TAURI_INTERNALS__`). */
export function inTauri(): boolean {
  const w = globalThis as { __TAURI_INTERNALS__?: unknown; window?: { __TAURI_INTERNALS__?: unknown } };
  return Boolean(w.window?.__TAURI_INTERNALS__ ?? w.__TAURI_INTERNALS__);
}

export type Unlisten = () => void;

export interface Backend {
  /** 'tauri' in the app, 'stub' in a plain browser. */
  readonly kind: 'tauri' | 'stub';
  appInfo(): Promise<AppInfo>;
  dialerPress(key: string): Promise<DialerView>;
  dialerBackspace(): Promise<DialerView>;
  dialerPaste(text: string): Promise<DialerView>;
  dialerClear(): Promise<DialerView>;
  dial(target: string): Promise<unknown>;
  openAccountSetup(): Promise<unknown>;
  startEchoTest(): Promise<EchoTestStarted>;
  /** Subscribe to an engine event forwarded by the shell; resolves to an unsubscribe function. */
  onEvent<T>(event: string, handler: (payload: T) => void): Promise<Unlisten>;
}

export function createBackend(invoke: InvokeFn, listen: ListenFn, kind: Backend['kind']): Backend {
  async function call<K extends CommandName>(cmd: K, args: Commands[K]['args']): Promise<unknown> {
    try {
      return await invoke(cmd, args);
    } catch (error) {
      throw toBackendError(error);
    }
  }
  const none = {} as Record<string, never>;

  return {
    kind,
    appInfo: async () => parseAppInfo(await call('app_info', none)),
    dialerPress: async (key) => parseDialerView('dialer_press', await call('dialer_press', { key })),
    dialerBackspace: async () =>
      parseDialerView('dialer_backspace', await call('dialer_backspace', none)),
    dialerPaste: async (text) => parseDialerView('dialer_paste', await call('dialer_paste', { text })),
    dialerClear: async () => parseDialerView('dialer_clear', await call('dialer_clear', none)),
    dial: (target) => call('dial', { target }),
    openAccountSetup: () => call('open_account_setup', none),
    startEchoTest: async () => parseEchoTestStarted(await call('start_echo_test', none)),
    onEvent: (event, handler) => listen(event, (payload) => handler(payload as never)),
  };
}

/** The real backend inside Tauri, the stub anywhere else. */
export function connectBackend(stubOptions?: StubOptions): Backend {
  if (inTauri()) {
    return createBackend(
      (cmd, args) => tauriInvoke(cmd, args),
      (event, handler) => tauriListen(event, (e) => handler(e.payload)),
      'tauri',
    );
  }
  const stub = createBackendStub(stubOptions);
  return createBackend(stub.invoke, stub.listen, 'stub');
}
