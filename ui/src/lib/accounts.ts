// Accounts, the pure part (unit-tested): the setup/edit form's fields and
// their local checks, the form → `save_account` input, the engine's events,
// and registration states in words.
//
// Local checks only catch obviously wrong input (an address without @, a
// server that is not ws:// or wss://); the engine's answer is the authority.
// The password never passes through here except as "is one typed" (a boolean)
// and once, on its way into the `save_account` input.

import { parseRegistrationState } from './backend';
import type { AccountInput, AccountView, DialerView, EngineEvent, RegistrationState } from './types';

/** The form's fields, as typed (strings). The password is not one of them. */
export interface AccountFields {
  address: string;
  server: string;
  displayName: string;
  authUser: string;
  outboundProxy: string;
  /** Seconds, as typed; empty = the engine's default. */
  expires: string;
  caFile: string;
  fingerprint: string;
}

export type FieldName = keyof AccountFields | 'password';
export type FieldErrors = Partial<Record<FieldName, string>>;

/** The engine's default registration lifetime (crates/sip/src/account.rs). */
export const DEFAULT_EXPIRES = 600;
export const MIN_EXPIRES = 60;
export const MAX_EXPIRES = 86_400;

export function emptyFields(): AccountFields {
  return {
    address: '',
    server: '',
    displayName: '',
    authUser: '',
    outboundProxy: '',
    expires: '',
    caFile: '',
    fingerprint: '',
  };
}

/** The form filled from a saved account (for editing). */
export function fieldsFromView(view: AccountView): AccountFields {
  const a = view.account;
  return {
    address: a.address,
    server: a.server,
    displayName: a.display_name ?? '',
    authUser: a.auth_user ?? '',
    outboundProxy: a.outbound_proxy ?? '',
    expires: a.expires === DEFAULT_EXPIRES ? '' : String(a.expires),
    caFile: a.tls.ca_file ?? '',
    fingerprint: a.tls.fingerprint_sha256 ?? '',
  };
}

/** `user@domain` out of what was typed (`sip:` and `<…>` allowed), or null. */
export function splitAddress(text: string): { user: string; domain: string } | null {
  let t = text.trim();
  if (t.startsWith('<') && t.endsWith('>')) t = t.slice(1, -1);
  t = t.replace(/^sips?:/i, '');
  t = t.split(/[;?]/)[0] ?? '';
  const at = t.indexOf('@');
  if (at <= 0 || at !== t.lastIndexOf('@')) return null;
  const user = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (domain === '' || /\s/.test(t)) return null;
  return { user, domain };
}

/** The same text, lower-cased, for comparing addresses as the engine does. */
export function accountIdOf(address: string): string | null {
  const parts = splitAddress(address);
  return parts ? `${parts.user}@${parts.domain}` : null;
}

/**
 * The server URL to suggest for an address: `wss://<domain>` (without the
 * SIP port, which is not the WebSocket port). Empty while there is no domain.
 */
export function suggestServer(address: string): string {
  const text = address.trim().replace(/^sips?:/i, '');
  const at = text.lastIndexOf('@');
  if (at < 0) return '';
  let host = (text.slice(at + 1).split(/[;?>/\s]/)[0] ?? '').trim();
  if (host.startsWith('[')) host = host.slice(0, host.indexOf(']') + 1 || undefined);
  else host = host.replace(/:\d*$/, '');
  return host === '' ? '' : `wss://${host}`;
}

const WS_URL = /^wss?:\/\/[^\s/@]+(\/\S*)?$/i;

export function isWebSocketUrl(text: string): boolean {
  return WS_URL.test(text.trim());
}

/** `ws://`: the signalling would travel unencrypted. */
export function isUnencrypted(url: string): boolean {
  return /^ws:\/\//i.test(url.trim());
}

export interface ValidateOptions {
  /** A password must be typed: a new account, or one that has none saved. */
  passwordRequired: boolean;
  passwordTyped: boolean;
}

/** Local checks, one sentence per field that is obviously wrong. */
export function validateFields(fields: AccountFields, options: ValidateOptions): FieldErrors {
  const errors: FieldErrors = {};
  const address = fields.address.trim();
  if (address === '') errors.address = 'Enter your SIP address, for example alice@pbx.example.com.';
  else if (!address.includes('@')) errors.address = 'A SIP address has an @: user@domain, for example alice@pbx.example.com.';
  else if (!splitAddress(address)) errors.address = 'Write the address as user@domain, for example alice@pbx.example.com.';

  if (options.passwordRequired && !options.passwordTyped) errors.password = 'Enter the password for this account.';

  const server = fields.server.trim();
  if (server === '') errors.server = 'Enter the server URL, for example wss://pbx.example.com.';
  else if (!/^wss?:\/\//i.test(server)) errors.server = 'The server URL starts with wss:// (or ws:// for an unencrypted test server).';
  else if (!isWebSocketUrl(server)) errors.server = 'Write the server URL as wss://host[:port][/path].';

  const proxy = fields.outboundProxy.trim();
  if (proxy !== '' && !isWebSocketUrl(proxy)) {
    errors.outboundProxy = 'The outbound proxy is a WebSocket URL too: wss://host[:port][/path].';
  }

  const expires = fields.expires.trim();
  if (expires !== '') {
    const n = Number(expires);
    if (!/^\d+$/.test(expires) || n < MIN_EXPIRES || n > MAX_EXPIRES) {
      errors.expires = `Use whole seconds from ${MIN_EXPIRES} to ${MAX_EXPIRES} (or leave it empty for ${DEFAULT_EXPIRES}).`;
    }
  }

  const fingerprint = fields.fingerprint.replace(/[:\s]/g, '');
  if (fingerprint !== '' && !/^[0-9a-f]{64}$/i.test(fingerprint)) {
    errors.fingerprint = 'A SHA-256 fingerprint is 64 hex digits (colons allowed).';
  }
  return errors;
}

/** The fields in the order they appear, for focusing the first wrong one. */
export const FIELD_ORDER: readonly FieldName[] = [
  'address',
  'password',
  'server',
  'displayName',
  'authUser',
  'outboundProxy',
  'expires',
  'caFile',
  'fingerprint',
];

export function firstError(errors: FieldErrors): FieldName | null {
  return FIELD_ORDER.find((f) => errors[f] !== undefined) ?? null;
}

/** True when an error sits in the "Advanced" part (so it must be opened). */
export function hasAdvancedError(errors: FieldErrors): boolean {
  return (['authUser', 'outboundProxy', 'expires', 'caFile', 'fingerprint'] as const).some((f) => errors[f] !== undefined);
}

/**
 * The `save_account` input. `password` is included only when typed (empty =
 * keep the saved one); optional fields are left out when empty.
 */
export function toAccountInput(fields: AccountFields, password: string, makeDefault = false): AccountInput {
  const input: AccountInput = { address: fields.address.trim(), server: fields.server.trim() };
  const optional = (v: string) => (v.trim() === '' ? undefined : v.trim());
  const displayName = optional(fields.displayName);
  const authUser = optional(fields.authUser);
  const proxy = optional(fields.outboundProxy);
  const expires = optional(fields.expires);
  const caFile = optional(fields.caFile);
  const fingerprint = optional(fields.fingerprint);
  if (authUser) input.auth_user = authUser;
  if (displayName) input.display_name = displayName;
  if (proxy) input.outbound_proxy = proxy;
  if (expires) input.expires = Number(expires);
  if (caFile || fingerprint) {
    input.tls = {};
    if (caFile) input.tls.ca_file = caFile;
    if (fingerprint) input.tls.fingerprint_sha256 = fingerprint;
  }
  if (password !== '') input.password = password;
  if (makeDefault) input.makeDefault = true;
  return input;
}

// ---- engine events -----------------------------------------------------------

/** An `engine` event payload, checked; null when it is not one we know. */
export function parseEngineEvent(payload: unknown): EngineEvent | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  switch (r.type) {
    case 'ready':
      return typeof r.version === 'string' ? { type: 'ready', version: r.version } : null;
    case 'accountsChanged':
      return { type: 'accountsChanged' };
    case 'notice':
      return typeof r.message === 'string' ? { type: 'notice', message: r.message } : null;
    case 'dialerChanged':
      return typeof r.text === 'string' && typeof r.canCall === 'boolean'
        ? ({ type: 'dialerChanged', text: r.text, canCall: r.canCall } satisfies { type: 'dialerChanged' } & DialerView)
        : null;
    case 'registrationChanged': {
      if (typeof r.account !== 'string') return null;
      const state = parseRegistrationState(r);
      return state ? { type: 'registrationChanged', account: r.account, ...state } : null;
    }
    default:
      return null;
  }
}

/** The RegistrationState carried by a registrationChanged event. */
export function stateOfEvent(event: EngineEvent & { type: 'registrationChanged' }): RegistrationState {
  const { type: _type, account: _account, ...state } = event;
  return state as RegistrationState;
}

// ---- registration states in words ---------------------------------------------

export type Tone = 'ok' | 'progress' | 'warn' | 'error' | 'idle';

export interface StateWords {
  tone: Tone;
  /** Short: for a chip ("Registered", "Retrying in 4 s"). */
  label: string;
  /** A sentence for people (the engine's reason when it failed). */
  detail: string;
}

/**
 * A registration state in words. `secondsLeft` overrides a retrying state's
 * `in_seconds` (the UI counts down from when the event came).
 */
export function describeState(state: RegistrationState | null, secondsLeft?: number): StateWords {
  switch (state?.state) {
    case undefined:
      return { tone: 'idle', label: 'Not started', detail: 'The registration has not started yet.' };
    case 'registering':
      return { tone: 'progress', label: 'Registering…', detail: 'Signing in to the server…' };
    case 'registered':
      return { tone: 'ok', label: 'Registered', detail: 'Registered: you can make and take calls.' };
    case 'failed':
      return { tone: 'error', label: 'Failed', detail: state.reason };
    case 'retrying': {
      const n = Math.max(0, Math.round(secondsLeft ?? state.in_seconds));
      return n > 0
        ? { tone: 'warn', label: `Retrying in ${n} s`, detail: `The server cannot be reached right now. Trying again in ${n} s.` }
        : { tone: 'warn', label: 'Retrying…', detail: 'The server cannot be reached right now. Trying again…' };
    }
    case 'unregistered':
      return { tone: 'idle', label: 'Offline', detail: 'Not registered: calls cannot reach you on this account.' };
  }
}
