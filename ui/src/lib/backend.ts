// Typed wrapper around the Tauri IPC (`invoke` for commands, `listen` for events).
// Outside Tauri (plain browser) it falls back to the in-memory stub in
// backend-stub.ts so the page still works for development and screenshots.

import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen as tauriListen } from '@tauri-apps/api/event';
import { createBackendStub, type StubOptions } from './backend-stub';
import type {
  AboutInfo,
  Account,
  AccountNetwork,
  AccountInput,
  AccountView,
  AppInfo,
  AudioChoice,
  MicMeterView,
  AudioDevice,
  AudioProcessing,
  AudioDevices,
  CallState,
  CallView,
  CommandName,
  Commands,
  Contact,
  ContactInput,
  ContactList,
  DesktopPrefs,
  DeviceRole,
  DialerView,
  EchoTestStarted,
  HistoryEntry,
  HistoryFilter,
  ImportReport,
  InvokeFn,
  ListenFn,
  NetworkReport,
  PhoneLabel,
  PhoneNumber,
  RegistrationState,
  VcardVersion,
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

const isNullableString = (v: unknown): v is string | null | undefined =>
  v === null || v === undefined || typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * A registration state as the engine sends it (`{ state: 'registered', expires }`…),
 * or null when it is not one. Used for `AccountView.registration` and for the
 * flattened fields of a `registrationChanged` event.
 */
export function parseRegistrationState(value: unknown): RegistrationState | null {
  const record = asRecord(value);
  if (!record) return null;
  switch (record.state) {
    case 'registering':
      return { state: 'registering' };
    case 'unregistered':
      return { state: 'unregistered' };
    case 'registered':
      return isCount(record.expires) ? { state: 'registered', expires: record.expires } : null;
    case 'failed':
      return typeof record.reason === 'string' ? { state: 'failed', reason: record.reason } : null;
    case 'retrying':
      return isCount(record.in_seconds) ? { state: 'retrying', in_seconds: record.in_seconds } : null;
    default:
      return null;
  }
}

function parseAccount(value: unknown): Account | null {
  const r = asRecord(value);
  if (!r || typeof r.address !== 'string' || typeof r.server !== 'string') return null;
  if (!isNullableString(r.auth_user) || !isNullableString(r.display_name) || !isNullableString(r.outbound_proxy)) {
    return null;
  }
  const tls = asRecord(r.tls) ?? {};
  if (!isNullableString(tls.ca_file) || !isNullableString(tls.fingerprint_sha256)) return null;
  return {
    address: r.address,
    auth_user: r.auth_user ?? null,
    display_name: r.display_name ?? null,
    server: r.server,
    outbound_proxy: r.outbound_proxy ?? null,
    expires: isCount(r.expires) ? r.expires : 600,
    tls: { ca_file: tls.ca_file ?? null, fingerprint_sha256: tls.fingerprint_sha256 ?? null },
  };
}

export function parseAccountView(cmd: string, value: unknown): AccountView {
  const r = asRecord(value);
  const account = parseAccount(r?.account);
  const registration = r?.registration === null || r?.registration === undefined ? null : parseRegistrationState(r.registration);
  if (
    !r ||
    !account ||
    typeof r.id !== 'string' ||
    typeof r.enabled !== 'boolean' ||
    typeof r.isDefault !== 'boolean' ||
    typeof r.unencrypted !== 'boolean' ||
    typeof r.hasPassword !== 'boolean' ||
    (registration === null && r.registration !== null && r.registration !== undefined)
  ) {
    throw badReply(cmd, value);
  }
  const view: AccountView = {
    id: r.id,
    account,
    enabled: r.enabled,
    isDefault: r.isDefault,
    unencrypted: r.unencrypted,
    hasPassword: r.hasPassword,
    registration,
  };
  const network = asRecord(r.network);
  if (network) {
    const text = (k: string) => (typeof network[k] === 'string' && network[k] !== '' ? (network[k] as string) : undefined);
    view.network = Object.fromEntries(Object.entries({ stun: text('stun'), turn: text('turn'), turnUser: text('turnUser') }).filter(([, v]) => v !== undefined));
    view.hasTurnPassword = r.hasTurnPassword === true;
  }
  return view;
}

export function parseAccountList(value: unknown): AccountView[] {
  if (!Array.isArray(value)) throw badReply('list_accounts', value);
  return value.map((item) => parseAccountView('list_accounts', item));
}

/** A call state as the engine sends it (flattened next to the call's fields), or null. */
export function parseCallState(value: unknown): CallState | null {
  const r = asRecord(value);
  if (!r) return null;
  switch (r.state) {
    case 'dialing':
    case 'ringing':
    case 'early_media':
    case 'incoming':
    case 'active':
      return { state: r.state };
    case 'held':
      return typeof r.by_me === 'boolean' ? { state: 'held', by_me: r.by_me } : null;
    case 'ended': {
      const code = typeof r.code === 'number' && Number.isFinite(r.code) ? r.code : null;
      return {
        state: 'ended',
        reason: typeof r.reason === 'string' ? r.reason : '',
        code,
        by: typeof r.by === 'string' ? r.by : 'network',
      };
    }
    default:
      return null;
  }
}

/** A `CallView` (list item or `callChanged` payload), or null when it is not one. */
export function toCallView(value: unknown): CallView | null {
  const r = asRecord(value);
  const state = parseCallState(value);
  if (
    !r ||
    !state ||
    typeof r.call !== 'string' ||
    r.call === '' ||
    typeof r.account !== 'string' ||
    typeof r.remote !== 'string' ||
    !isNullableString(r.remoteName) ||
    typeof r.outgoing !== 'boolean'
  ) {
    return null;
  }
  const view: CallView = { call: r.call, account: r.account, remote: r.remote, remoteName: r.remoteName ?? null, outgoing: r.outgoing, ...state };
  if (typeof r.muted === 'boolean') view.muted = r.muted;
  if (typeof r.connectedAt === 'number') view.connectedAt = r.connectedAt;
  return view;
}

export function parseCallList(value: unknown): CallView[] {
  if (!Array.isArray(value)) throw badReply('list_calls', value);
  return value.map((item) => {
    const view = toCallView(item);
    if (!view) throw badReply('list_calls', value);
    return view;
  });
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** One `list_history` row, or null when it is not one. */
export function toHistoryEntry(value: unknown): HistoryEntry | null {
  const r = asRecord(value);
  if (
    !r ||
    typeof r.id !== 'number' ||
    typeof r.remote !== 'string' ||
    !isNullableString(r.remoteName) ||
    (r.direction !== 'in' && r.direction !== 'out') ||
    !isTime(r.startedAt) ||
    !isTime(r.endedAt) ||
    !(r.connectedAt === null || r.connectedAt === undefined || isTime(r.connectedAt)) ||
    typeof r.missed !== 'boolean'
  ) {
    return null;
  }
  return {
    id: r.id,
    callId: typeof r.callId === 'string' ? r.callId : '',
    account: typeof r.account === 'string' ? r.account : '',
    remote: r.remote,
    remoteName: r.remoteName ?? null,
    direction: r.direction,
    startedAt: r.startedAt,
    connectedAt: r.connectedAt ?? null,
    endedAt: r.endedAt,
    endReason: typeof r.endReason === 'string' ? r.endReason : '',
    endCode: typeof r.endCode === 'number' ? r.endCode : null,
    missed: r.missed,
  };
}

export function parseHistoryList(value: unknown): HistoryEntry[] {
  if (!Array.isArray(value)) throw badReply('list_history', value);
  return value.map((item) => {
    const entry = toHistoryEntry(item);
    if (!entry) throw badReply('list_history', value);
    return entry;
  });
}

const PHONE_LABELS: readonly PhoneLabel[] = ['mobile', 'work', 'home', 'fax', 'other'];

function toPhoneNumber(value: unknown): PhoneNumber | null {
  const r = asRecord(value);
  if (!r || typeof r.number !== 'string') return null;
  const label = PHONE_LABELS.find((l) => l === r.label) ?? 'other';
  return { label, number: r.number };
}

/** One contact as the engine sends it, or null when it is not one. */
export function toContact(value: unknown): Contact | null {
  const r = asRecord(value);
  if (
    !r ||
    typeof r.id !== 'number' ||
    typeof r.name !== 'string' ||
    !isNullableString(r.organization) ||
    !isNullableString(r.email) ||
    !Array.isArray(r.numbers) ||
    typeof r.favorite !== 'boolean'
  ) {
    return null;
  }
  const numbers = r.numbers.map(toPhoneNumber);
  if (numbers.some((n) => n === null)) return null;
  return {
    id: r.id,
    name: r.name,
    organization: r.organization ?? null,
    email: r.email ?? null,
    numbers: numbers as PhoneNumber[],
    favorite: r.favorite,
  };
}

function parseContact(cmd: string, value: unknown): Contact {
  const contact = toContact(value);
  if (!contact) throw badReply(cmd, value);
  return contact;
}

export function parseContactList(value: unknown): ContactList {
  const r = asRecord(value);
  if (!r || !Array.isArray(r.contacts) || !isNullableString(r.warning)) throw badReply('list_contacts', value);
  return { contacts: r.contacts.map((c) => parseContact('list_contacts', c)), warning: r.warning ?? null };
}

export function parseImportReport(value: unknown): ImportReport {
  const r = asRecord(value);
  if (!r || !isCount(r.added) || !isCount(r.skipped)) throw badReply('import_vcard', value);
  return { added: r.added, skipped: r.skipped };
}

export function parseDesktopPrefs(cmd: string, value: unknown): DesktopPrefs {
  const r = asRecord(value);
  const keys = asRecord(r?.shortcuts);
  const key = (k: string) => (typeof keys?.[k] === 'string' ? (keys[k] as string) : null);
  const [answer, hangUp, mute] = [key('answer'), key('hangUp'), key('mute')];
  if (!r || typeof r.startMinimised !== 'boolean' || typeof r.startAtLogin !== 'boolean' || typeof r.notifications !== 'boolean' || answer === null || hangUp === null || mute === null) {
    throw badReply(cmd, value);
  }
  // An older shell has no askBeforeLinkCall: it asked (a clicked link filled the dialer).
  const askBeforeLinkCall = r.askBeforeLinkCall !== false;
  // An older shell has no micExplained: not explained.
  const micExplained = r.micExplained === true;
  return { startMinimised: r.startMinimised, startAtLogin: r.startAtLogin, notifications: r.notifications, shortcuts: { answer, hangUp, mute }, askBeforeLinkCall, micExplained };
}

export function parseAboutInfo(value: unknown): AboutInfo {
  const r = asRecord(value);
  if (!r || typeof r.version !== 'string' || !isNullableString(r.logFolder) || !isNullableString(r.dataFolder)) throw badReply('about_info', value);
  return { version: r.version, logFolder: r.logFolder ?? null, dataFolder: r.dataFolder ?? null };
}

export function parseAudioProcessing(cmd: string, value: unknown): AudioProcessing {
  const r = asRecord(value);
  if (!r || typeof r.echoCancellation !== 'boolean' || typeof r.noiseSuppression !== 'boolean' || typeof r.autoGain !== 'boolean') throw badReply(cmd, value);
  return { echoCancellation: r.echoCancellation, noiseSuppression: r.noiseSuppression, autoGain: r.autoGain };
}

export function parseNetworkReport(value: unknown): NetworkReport {
  const r = asRecord(value);
  const ms = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (!r || typeof r.server !== 'string' || !Array.isArray(r.findings) || !r.findings.every((f) => typeof f === 'string') || !isNullableString(r.serverProblem)) {
    throw badReply('network_check', value);
  }
  return { server: r.server, serverConnectMs: ms(r.serverConnectMs), serverProblem: r.serverProblem ?? null, findings: r.findings as string[] };
}

export function parseAudioDevices(value: unknown): AudioDevices {
  const r = asRecord(value);
  const devices = (list: unknown): AudioDevice[] | null => {
    if (!Array.isArray(list)) return null;
    const out = list.map((d) => {
      const x = asRecord(d);
      return x && typeof x.id === 'string' && typeof x.name === 'string' && typeof x.isDefault === 'boolean' ? { id: x.id, name: x.name, isDefault: x.isDefault } : null;
    });
    return out.some((d) => d === null) ? null : (out as AudioDevice[]);
  };
  const inputs = devices(r?.inputs);
  const outputs = devices(r?.outputs);
  if (!r || typeof r.host !== 'string' || !inputs || !outputs) throw badReply('list_audio_devices', value);
  return { host: r.host, inputs, outputs };
}

/** `get_audio_choice` / `set_audio_device` / `set_ringtone` reply (missing lists read as empty). */
export function parseAudioChoice(cmd: string, value: unknown): AudioChoice {
  const r = asRecord(value);
  const ids = (v: unknown): string[] | null => (v === undefined || v === null ? [] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null);
  const [input, output, ringer] = [ids(r?.input), ids(r?.output), ids(r?.ringer)];
  if (!r || !input || !output || !ringer || !isNullableString(r.ringtone)) throw badReply(cmd, value);
  return { input, output, ringer, ringtone: r.ringtone === '' ? null : (r.ringtone ?? null) };
}

/** `start_mic_meter` reply. */
export function parseMicMeterView(value: unknown): MicMeterView {
  const r = asRecord(value);
  if (!r || typeof r.device !== 'string') throw badReply('start_mic_meter', value);
  return { device: r.device };
}

/** A list of strings (call ids), or a bad reply. */
export function parseStringList(cmd: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw badReply(cmd, value);
  return value as string[];
}

function parseCallId(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw badReply('dial', value);
  return value;
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
  dialerView(): Promise<DialerView>;
  /** Place a call (from `account`, else the default one); resolves to the call id. */
  dial(target: string, account?: string): Promise<string>;
  listCalls(): Promise<CallView[]>;
  answer(call: string): Promise<void>;
  /** Decline an incoming call (`busy`: "busy here" instead of "declined"). */
  reject(call: string, busy?: boolean): Promise<void>;
  hangup(call: string): Promise<void>;
  hold(call: string, on: boolean): Promise<void>;
  mute(call: string, on: boolean): Promise<void>;
  sendDtmf(call: string, digits: string): Promise<void>;
  /** Blind transfer of `call` to `target`. */
  transfer(call: string, target: string): Promise<void>;
  /** Merge calls into the local conference; resolves to its members. */
  mergeCalls(calls: string[]): Promise<string[]>;
  /** Take a call out of the conference. */
  splitCall(call: string): Promise<void>;
  setDoNotDisturb(on: boolean): Promise<void>;
  listAccounts(): Promise<AccountView[]>;
  /** Add or change an account (matched by its address); resolves to the saved account. */
  saveAccount(input: AccountInput): Promise<AccountView>;
  removeAccount(id: string): Promise<void>;
  setDefaultAccount(id: string): Promise<void>;
  startEchoTest(): Promise<EchoTestStarted>;
  /** Past calls, newest first. */
  listHistory(filter: HistoryFilter, search?: string | null, limit?: number): Promise<HistoryEntry[]>;
  deleteHistory(id: number): Promise<void>;
  clearHistory(): Promise<void>;
  /** Contacts by name; `search` matches name, organisation or number. */
  listContacts(search?: string | null, favorites?: boolean): Promise<ContactList>;
  /** Add (`id` null) or replace a contact. */
  saveContact(id: number | null, contact: ContactInput): Promise<Contact>;
  deleteContact(id: number): Promise<void>;
  setFavorite(id: number, on: boolean): Promise<void>;
  importVcard(text: string): Promise<ImportReport>;
  exportVcard(ids?: number[] | null, version?: VcardVersion): Promise<string>;
  getDesktopPrefs(): Promise<DesktopPrefs>;
  setDesktopPrefs(value: DesktopPrefs): Promise<DesktopPrefs>;
  aboutInfo(): Promise<AboutInfo>;
  listAudioDevices(): Promise<AudioDevices>;
  getAudioProcessing(): Promise<AudioProcessing>;
  setAudioProcessing(value: AudioProcessing): Promise<AudioProcessing>;
  /** Each role's device preference and the ringtone. */
  getAudioChoice(): Promise<AudioChoice>;
  /** One role's devices, most preferred first (`[]`: the system default). */
  setAudioDevice(role: DeviceRole, preference: string[]): Promise<AudioChoice>;
  /** A WAV file's full path, or null for the built-in ring. */
  setRingtone(path: string | null): Promise<AudioChoice>;
  /** The desktop's file dialog for the ringtone: the chosen path, or null when cancelled. */
  chooseRingtone(): Promise<string | null>;
  /** Open the microphone for Settings → Audio's meter (`microphoneLevel` events); refused during a call. */
  startMicMeter(): Promise<MicMeterView>;
  /** Close the meter's microphone; false: it was not open. */
  stopMicMeter(): Promise<boolean>;
  /** The settings meter's microphone while it is open (null: closed). */
  micMeterState(): Promise<MicMeterView | null>;
  /** Have the calls' `audioLevels` events sent to this window (a meter is shown), or stop them. */
  followAudioLevels(on: boolean): Promise<void>;
  /** Whether the echo test runs now. */
  echoTestRunning(): Promise<boolean>;
  /** Save an account's STUN/TURN servers (`turnPassword` null keeps the saved one). */
  setAccountNetwork(id: string, network: AccountNetwork, turnPassword: string | null): Promise<AccountView>;
  networkCheck(id: string | null): Promise<NetworkReport>;
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
    dialerView: async () => parseDialerView('dialer_view', await call('dialer_view', none)),
    dial: async (target, account) =>
      parseCallId(await call('dial', account === undefined ? { target } : { target, account })),
    listCalls: async () => parseCallList(await call('list_calls', none)),
    answer: async (id) => {
      await call('answer', { call: id });
    },
    reject: async (id, busy = false) => {
      await call('reject', { call: id, busy });
    },
    hangup: async (id) => {
      await call('hangup', { call: id });
    },
    hold: async (id, on) => {
      await call('hold', { call: id, on });
    },
    mute: async (id, on) => {
      await call('mute', { call: id, on });
    },
    sendDtmf: async (id, digits) => {
      await call('send_dtmf', { call: id, digits });
    },
    transfer: async (id, target) => {
      await call('transfer', { call: id, target });
    },
    mergeCalls: async (ids) => parseStringList('merge_calls', await call('merge_calls', { calls: ids })),
    splitCall: async (id) => {
      await call('split_call', { call: id });
    },
    setDoNotDisturb: async (on) => {
      await call('set_do_not_disturb', { on });
    },
    listAccounts: async () => parseAccountList(await call('list_accounts', none)),
    saveAccount: async (input) => parseAccountView('save_account', await call('save_account', { input })),
    removeAccount: async (id) => {
      await call('remove_account', { id });
    },
    setDefaultAccount: async (id) => {
      await call('set_default_account', { id });
    },
    startEchoTest: async () => parseEchoTestStarted(await call('start_echo_test', none)),
    listHistory: async (filter, search = null, limit = 200) =>
      parseHistoryList(await call('list_history', { filter, search: search?.trim() ? search.trim() : null, limit })),
    deleteHistory: async (id) => {
      await call('delete_history', { id });
    },
    clearHistory: async () => {
      await call('clear_history', none);
    },
    listContacts: async (search = null, favorites = false) =>
      parseContactList(await call('list_contacts', { search: search?.trim() ? search.trim() : null, favorites })),
    saveContact: async (id, contact) => parseContact('save_contact', await call('save_contact', { id, contact })),
    deleteContact: async (id) => {
      await call('delete_contact', { id });
    },
    setFavorite: async (id, on) => {
      await call('set_favorite', { id, on });
    },
    importVcard: async (text) => parseImportReport(await call('import_vcard', { text })),
    exportVcard: async (ids = null, version = '3.0') => {
      const text = await call('export_vcard', { ids, version });
      if (typeof text !== 'string') throw badReply('export_vcard', text);
      return text;
    },
    getDesktopPrefs: async () => parseDesktopPrefs('get_desktop_prefs', await call('get_desktop_prefs', none)),
    setDesktopPrefs: async (value) => parseDesktopPrefs('set_desktop_prefs', await call('set_desktop_prefs', { value })),
    aboutInfo: async () => parseAboutInfo(await call('about_info', none)),
    listAudioDevices: async () => parseAudioDevices(await call('list_audio_devices', none)),
    getAudioProcessing: async () => parseAudioProcessing('get_audio_processing', await call('get_audio_processing', none)),
    setAudioProcessing: async (value) => parseAudioProcessing('set_audio_processing', await call('set_audio_processing', { value })),
    getAudioChoice: async () => parseAudioChoice('get_audio_choice', await call('get_audio_choice', none)),
    setAudioDevice: async (role, preference) => parseAudioChoice('set_audio_device', await call('set_audio_device', { role, preference })),
    setRingtone: async (path) => parseAudioChoice('set_ringtone', await call('set_ringtone', { path })),
    chooseRingtone: async () => {
      const chosen = await call('choose_ringtone', none);
      return typeof chosen === 'string' && chosen !== '' ? chosen : null;
    },
    startMicMeter: async () => parseMicMeterView(await call('start_mic_meter', none)),
    stopMicMeter: async () => (await call('stop_mic_meter', none)) === true,
    followAudioLevels: async (on) => {
      await call('follow_audio_levels', { on });
    },
    micMeterState: async () => {
      const value = await call('mic_meter_state', none);
      return value === null ? null : parseMicMeterView(value);
    },
    echoTestRunning: async () => (await call('echo_test_running', none)) === true,
    setAccountNetwork: async (id, network, turnPassword) =>
      parseAccountView('set_account_network', await call('set_account_network', { id, network, turnPassword })),
    networkCheck: async (id) => parseNetworkReport(await call('network_check', { id })),
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
