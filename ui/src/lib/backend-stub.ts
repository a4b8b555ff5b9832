// In-memory stand-in for the Rust engine, used when the page runs outside Tauri
// (plain browser: `npm run dev`, screenshots, unit tests). It mimics the command
// contract in types.ts, and roughly crates/phone/src/dialer.rs, closely enough
// for the UI to behave as in the app; it is NOT the source of truth for number
// cleaning (the engine is). The real UI never cleans input itself.

import type { AppInfo, BackendErrorPayload, DialerView, InvokeFn, ListenFn } from './types';

/** Longest dial text the stub keeps (the engine's limit is the same). */
export const STUB_MAX_LENGTH = 256;

const KEYPAD_LETTERS: readonly [string, string][] = [
  ['2', 'abc'], ['3', 'def'], ['4', 'ghi'], ['5', 'jkl'],
  ['6', 'mno'], ['7', 'pqrs'], ['8', 'tuv'], ['9', 'wxyz'],
];

/** Keypad digit for a letter (ITU E.161), or undefined. */
export function letterToDigit(ch: string): string | undefined {
  const lower = ch.toLowerCase();
  return KEYPAD_LETTERS.find(([, letters]) => letters.includes(lower))?.[0];
}

const isDigit = (c: string) => c >= '0' && c <= '9';
const isAsciiLetter = (c: string) => /^[a-zA-Z]$/.test(c);

/**
 * One typed key, as the engine handles it: digits, `*`, `#` and letters are
 * kept (on a PBX `alice` or `sales` is a valid target), `+` only first,
 * `@ . - _ :` only after something; anything else, or a multi-character key,
 * is ignored.
 */
export function stubPress(current: string, key: string): string {
  const chars = Array.from(key);
  if (chars.length !== 1 || current.length >= STUB_MAX_LENGTH) return current;
  const c = chars[0] as string;
  if (isDigit(c) || c === '*' || c === '#' || isAsciiLetter(c)) return current + c;
  if (c === '+' && current === '') return '+';
  if ('@.-_:'.includes(c) && current !== '') return current + c;
  return current;
}

/**
 * Pasted text, as the engine cleans it (a paste replaces the dial text): a SIP
 * address is trimmed and kept; a phone number loses spaces and punctuation,
 * its letters become digits, and a `tel:` scheme or `;ext=` part is dropped.
 */
export function stubClean(input: string): string {
  const trimmed = input.trim().replace(/^<+|>+$/g, '');
  const lower = trimmed.toLowerCase();
  const isAddress = lower.startsWith('sip:') || lower.startsWith('sips:') || trimmed.includes('@');
  if (isAddress && !/\s/.test(trimmed)) return Array.from(trimmed).slice(0, STUB_MAX_LENGTH).join('');
  const scheme = ['tel:', 'callto:'].find((p) => lower.startsWith(p));
  const body = (scheme ? trimmed.slice(scheme.length) : trimmed).split(';')[0] ?? '';
  const digits = Array.from(body).filter(isDigit).length;
  let out = '';
  for (const c of body) {
    if (out.length >= STUB_MAX_LENGTH) break;
    if (isDigit(c) || c === '*' || c === '#') out += c;
    else if (c === '+' && out === '') out += c;
    else if (isAsciiLetter(c) && digits >= 3) out += letterToDigit(c) ?? '';
    else if (isAsciiLetter(c) || ('._-'.includes(c) && digits < 3)) out += c;
  }
  return out;
}

/** Something to call: not empty once a leading `+` is ignored. */
export function stubCanCall(text: string): boolean {
  return /[a-zA-Z0-9]/.test(text.replace(/^\++/, ''));
}

export interface StubOptions {
  version?: string;
  accountsConfigured?: boolean;
  /** Artificial latency per command, to exercise the UI's ordering. */
  delayMs?: number | (() => number);
}

export interface BackendStub {
  invoke: InvokeFn;
  listen: ListenFn;
  /** Push an event to listeners, as the shell would. */
  emit(event: string, payload: unknown): void;
  /** Current dial text (for tests). */
  readonly text: string;
}

function reject(code: string, message: string): Promise<never> {
  const payload: BackendErrorPayload = { code, message };
  return Promise.reject(payload);
}

export function createBackendStub(options: StubOptions = {}): BackendStub {
  const info: AppInfo = {
    version: options.version ?? '0.0.0-preview',
    accountsConfigured: options.accountsConfigured ?? false,
  };
  let text = '';
  const listeners = new Map<string, Set<(payload: unknown) => void>>();

  const view = (): DialerView => ({ text, canCall: stubCanCall(text) });

  const delay = async () => {
    const ms = typeof options.delayMs === 'function' ? options.delayMs() : options.delayMs ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  };

  const handle = (cmd: string, args: Record<string, unknown>): Promise<unknown> => {
    switch (cmd) {
      case 'app_info':
        return Promise.resolve({ ...info });
      case 'dialer_press': {
        if (typeof args.key !== 'string') return reject('invalid_argument', 'Missing key.');
        text = stubPress(text, args.key);
        return Promise.resolve(view());
      }
      case 'dialer_backspace':
        text = Array.from(text).slice(0, -1).join('');
        return Promise.resolve(view());
      case 'dialer_paste': {
        if (typeof args.text !== 'string') return reject('invalid_argument', 'Missing text.');
        text = stubClean(args.text);
        return Promise.resolve(view());
      }
      case 'dialer_clear':
        text = '';
        return Promise.resolve(view());
      case 'dial':
        if (typeof args.target !== 'string') return reject('invalid_argument', 'Missing target.');
        if (!info.accountsConfigured) {
          return reject('no_account', 'Set up an account to make calls.');
        }
        return reject('not_implemented', 'Calling arrives in a coming update.');
      case 'open_account_setup':
        return reject('not_implemented', 'Account setup arrives soon.');
      case 'start_echo_test':
        return Promise.resolve({
          message: 'Echo test started (browser preview: no audio here).',
        });
      default:
        return reject('unknown_command', `Unknown command: ${cmd}`);
    }
  };

  return {
    async invoke(cmd, args) {
      await delay();
      return handle(cmd, args);
    },
    async listen(event, handler) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(handler);
      return () => {
        set.delete(handler);
      };
    },
    emit(event, payload) {
      for (const handler of listeners.get(event) ?? []) handler(payload);
    },
    get text() {
      return text;
    },
  };
}
