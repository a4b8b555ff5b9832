// In-memory stand-in for the Rust engine, used when the page runs outside Tauri
// (plain browser: `npm run dev`, screenshots, unit tests). It mimics the command
// contract in types.ts, and roughly crates/phone/src/dialer.rs, closely enough
// for the UI to behave as in the app; it is NOT the source of truth for number
// cleaning (the engine is). The real UI never cleans input itself.

import type {
  Account,
  AccountNetwork,
  AccountView,
  AppInfo,
  BackendErrorPayload,
  CallState,
  CallStats,
  CallView,
  CallWarning,
  ContactInput,
  DialerView,
  HistoryEntry,
  InvokeFn,
  ListenFn,
  RegistrationState,
} from './types';
import { createContactsStub, stubDemoContacts } from './contacts-stub';

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

// ---- accounts -------------------------------------------------------------------

/** The password that the stub's "server" rejects (to preview a failure). */
export const STUB_WRONG_PASSWORD = 'wrong';

/** An account the stub starts with (browser preview, tests). */
export interface StubAccountSeed {
  address: string;
  server?: string;
  display_name?: string;
  isDefault?: boolean;
  hasPassword?: boolean;
  /** Its registration state right away (default: registered). */
  state?: RegistrationState;
}

/** `user@domain` as the engine's SipAddress::parse takes it, or null. */
export function stubAccountId(address: string): string | null {
  let t = address.trim();
  if (t.startsWith('<') && t.endsWith('>')) t = t.slice(1, -1);
  t = t.replace(/^sips?:/, '').split(/[;?]/)[0] ?? '';
  const m = /^([^@]+)@([^@]+)$/.exec(t);
  const ok = (part: string) => /^[A-Za-z0-9\-_.!~*'()&=+$,%:[\]]+$/.test(part);
  return m && ok(m[1] as string) && ok(m[2] as string) ? `${m[1]}@${m[2]}` : null;
}

/** The engine's check of a ws:// or wss:// URL (roughly crates/sip ServerUrl::parse). */
export function stubServerOk(url: string): boolean {
  const m = /^wss?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\/\S*)?$/i.exec(url.trim());
  const port = m?.[2] === undefined ? 443 : Number(m[2]);
  return m !== null && port >= 1 && port <= 65535;
}

const debug = (v: string) => JSON.stringify(v);

interface StubAccount {
  account: Account;
  enabled: boolean;
  /** null: no password saved; false: the saved one is "wrong". */
  passwordOk: boolean | null;
  registration: RegistrationState | null;
}

/** Preview options from the page's query string, e.g. `?accounts=demo&delay=1500`. */
export function stubOptionsFromQuery(search: string): StubOptions {
  const q = new URLSearchParams(search);
  const options: StubOptions = {};
  if (q.get('accounts') === 'demo') {
    options.accounts = [
      { address: 'alice@pbx.example.com', display_name: 'Alice Martin', isDefault: true },
      {
        address: 'support@sip.example.org',
        display_name: 'Support line',
        state: { state: 'failed', reason: 'The server rejected the password for support@sip.example.org.' },
      },
      { address: 'lab@127.0.0.1', server: 'ws://127.0.0.1:8080', state: { state: 'retrying', in_seconds: 42 } },
    ];
  } else if (q.get('accounts') === 'one') {
    options.accounts = [{ address: 'alice@pbx.example.com', display_name: 'Alice Martin' }];
  }
  const delay = Number(q.get('delay'));
  if (Number.isFinite(delay) && delay > 0) options.registerDelayMs = delay;
  // Calls: `?incoming=1` (a call rings in after a moment; `?incoming=now`: at once),
  // `?call=active|held|ringing|their-hold` (a call the engine already has: the window restores it),
  // `?call=two` (two calls, one on hold), `?call=poor` (a call on a bad network: warnings),
  // `?call=reconnecting` (a call whose media path was lost 5 s ago).
  const incoming = q.get('incoming');
  if (incoming !== null && incoming !== '0') {
    if (!options.accounts) options.accounts = [{ address: 'alice@pbx.example.com', display_name: 'Alice Martin' }];
    options.incoming = { afterMs: incoming === 'now' ? 0 : 1500, from: 'bob@pbx.example.com', name: 'Bob Stone' };
  }
  const call = q.get('call');
  const seeds: Record<string, StubCallSeed[]> = {
    active: [{ remote: '+4930123456', name: 'Dana Weber', state: { state: 'active' } }],
    held: [{ remote: '+4930123456', name: 'Dana Weber', state: { state: 'held', by_me: true } }],
    'their-hold': [{ remote: 'carol@pbx.example.com', name: 'Carol Díaz', state: { state: 'held', by_me: false } }],
    ringing: [{ remote: '+4930123456', state: { state: 'ringing' } }],
    two: [
      { remote: '+4930123456', name: 'Dana Weber', state: { state: 'held', by_me: true } },
      { remote: 'support@pbx.example.com', name: 'Support line', state: { state: 'active' } },
    ],
    poor: [{ remote: '+4930123456', name: 'Dana Weber', state: { state: 'active' }, network: 'poor' }],
    reconnecting: [{ remote: '+4930123456', name: 'Dana Weber', state: { state: 'active' }, network: 'lost' }],
  };
  if (q.get('history') === 'demo') options.history = stubDemoHistory(Date.now());
  if (q.get('contacts') === 'demo') options.contacts = stubDemoContacts();
  if (q.get('mic') === 'new') options.micExplained = false;
  const echoMs = Number(q.get('echo'));
  if (Number.isFinite(echoMs) && echoMs > 0) options.echoTestMs = echoMs;
  if (call !== null && seeds[call]) {
    if (!options.accounts) options.accounts = [{ address: 'alice@pbx.example.com', display_name: 'Alice Martin' }];
    options.calls = seeds[call];
  }
  return options;
}

/** A call the stub engine already has at start (restored by `list_calls`). */
export interface StubCallSeed {
  remote: string;
  name?: string;
  outgoing?: boolean;
  state: CallState;
  /** Its network: 'good' (default), 'poor' (loss and jitter: warnings), 'lost' (reconnecting since 5 s). */
  network?: StubNetwork;
}

export type StubNetwork = 'good' | 'poor' | 'lost';

/** One second of a call as the engine would measure it on such a network. */
export function stubStats(call: string, network: StubNetwork, seconds: number): CallStats {
  const poor = network === 'poor';
  const sent = seconds * 50;
  const lost = poor ? Math.round(sent * 0.06) : 0;
  return {
    call,
    codec: 'opus',
    bitrateKbps: network === 'lost' ? 0 : 32,
    packetsSent: sent,
    packetsReceived: network === 'lost' ? 0 : sent - lost,
    packetsLost: lost,
    lossPercent: poor ? 6 : 0,
    jitterMs: poor ? 48 : 4,
    rttMs: poor ? 180 : 38,
    mos: poor ? 3.1 : network === 'lost' ? 1 : 4.4,
  };
}

/** The meters of a connected stub call: speech on both sides. */
/** The settings meter's fixed reading outside a call (screens compare pixels). */
export const STUB_MIC_LEVEL = { rmsDbfs: -33, peakDbfs: -20 };

export const STUB_LEVELS = { input: { rmsDbfs: -21, peakDbfs: -9 }, output: { rmsDbfs: -30, peakDbfs: -16 } };

/** The engine's warnings for a poor network (crates/phone/src/coaching.rs, same words). */
export const STUB_POOR_WARNINGS: CallWarning[] = [
  {
    problem: 'loss',
    message: 'Your network is dropping 6 % of packets: the other side may hear gaps. A wired connection or moving closer to the Wi-Fi access point helps.',
  },
  {
    problem: 'jitter',
    message: 'Your network delivers audio unevenly (48 ms of jitter): speech may sound choppy. Pausing downloads or video on this network helps.',
  },
];

export interface StubOptions {
  version?: string;
  /** Start with one registered demo account (ignored when `accounts` is given). */
  accountsConfigured?: boolean;
  accounts?: StubAccountSeed[];
  /** How long the simulated registration takes (default 900 ms; 0 = next tick). */
  registerDelayMs?: number;
  /** Artificial latency per command, to exercise the UI's ordering. */
  delayMs?: number | (() => number);
  /** A dialed call rings after this long (default 400 ms)… */
  ringMs?: number;
  /** …and is answered this long after it started ringing (default 1000 ms). */
  answerMs?: number;
  /** A call rings in this long after start (`?incoming=1`). */
  incoming?: { afterMs: number; from: string; name: string | null };
  /** Calls the engine already has (`?call=active`). */
  calls?: StubCallSeed[];
  /** Past calls the history starts with (`?history=demo`), any order. */
  history?: Array<Omit<HistoryEntry, 'id'>>;
  /** Contacts the list starts with (`?contacts=demo`). */
  contacts?: ContactInput[];
  /**
   * Why the microphone is used was explained already (default true: the preview
   * and the screens show the app in use; `?mic=new` shows the first use).
   */
  micExplained?: boolean;
  /** How long the echo test keeps the microphone open (default 11 s: 10 s listening, 1 s delay). */
  echoTestMs?: number;
  /** What the ringtone's file dialog answers (default a WAV in the user's music; null: cancelled). */
  chosenRingtone?: string | null;
}

/** A few past calls for the preview (`?history=demo`), relative to `now`. */
export function stubDemoHistory(now: number): Array<Omit<HistoryEntry, 'id'>> {
  const min = 60_000;
  const row = (remote: string, remoteName: string | null, direction: 'in' | 'out', agoMin: number, talkedS: number | null, endReason: string, endCode: number | null) => {
    const startedAt = now - agoMin * min;
    const connectedAt = talkedS === null ? null : startedAt + 4000;
    return {
      callId: `demo-${agoMin}@homeline.invalid`,
      account: 'alice@pbx.example.com',
      remote,
      remoteName,
      direction,
      startedAt,
      connectedAt,
      endedAt: connectedAt === null ? startedAt + 20_000 : connectedAt + talkedS! * 1000,
      endReason,
      endCode,
      missed: direction === 'in' && connectedAt === null,
    };
  };
  return [
    row('+4930123456', 'Dana Weber', 'out', 12, 263, 'hung up', null),
    row('bob@pbx.example.com', 'Bob Stone', 'in', 45, null, 'cancelled', 487),
    row('support@pbx.example.com', 'Support line', 'in', 180, 1212, 'hung up', null),
    row('+441632960961', null, 'out', 1500, null, 'busy', 486),
  ];
}

export interface BackendStub {
  invoke: InvokeFn;
  listen: ListenFn;
  /** Push an event to listeners, as the shell would. */
  emit(event: string, payload: unknown): void;
  /** Current dial text (for tests). */
  readonly text: string;
  /** Someone calls us; resolves to the call id. */
  ringIn(from: string, name?: string | null): string;
  /** The other side of `call` hangs up (or a dialed call fails: e.g. 'busy', 486). */
  remoteEnd(call: string, reason?: string, code?: number | null): void;
  /** The other side puts `call` on hold (or resumes). */
  remoteHold(call: string, on: boolean): void;
  /** The stub engine's calls (for tests). */
  readonly calls: CallView[];
  /** Touch tones sent in each call (for tests). */
  readonly digits: Record<string, string>;
  /** The microphone the settings meter has open (null: closed; for tests). */
  readonly micMeter: string | null;
  /** The echo test runs (for tests). */
  readonly echoTest: boolean;
  /** What `set_desktop_prefs` saved last (for tests). */
  readonly desktopPrefs: Record<string, unknown>;
}

function reject(code: string, message: string): Promise<never> {
  const payload: BackendErrorPayload = { code, message };
  return Promise.reject(payload);
}

export function createBackendStub(options: StubOptions = {}): BackendStub {
  const version = options.version ?? '0.0.0-preview';
  const contactsStub = createContactsStub(options.contacts);
  let audioProcessing = { echoCancellation: true, noiseSuppression: true, autoGain: true };
  let audioChoice: { input: string[]; output: string[]; ringer: string[]; ringtone: string | null } = { input: [], output: [], ringer: [], ringtone: null };
  let desktopPrefs = { startMinimised: false, startAtLogin: false, notifications: true, shortcuts: { answer: '', hangUp: '', mute: '' }, askBeforeLinkCall: true, micExplained: options.micExplained ?? true };
  let text = '';
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const emit = (event: string, payload: unknown) => {
    for (const handler of listeners.get(event) ?? []) handler(payload);
  };

  const accounts = new Map<string, StubAccount>();
  let defaultId: string | null = null;
  const seeds = options.accounts ?? (options.accountsConfigured ? [{ address: 'alice@pbx.example.com' }] : []);
  for (const seed of seeds) {
    const id = stubAccountId(seed.address);
    if (!id) continue;
    accounts.set(id, {
      account: {
        address: seed.address,
        auth_user: null,
        display_name: seed.display_name ?? null,
        server: seed.server ?? `wss://${id.split('@')[1]}`,
        outbound_proxy: null,
        expires: 600,
        tls: { ca_file: null, fingerprint_sha256: null },
      },
      enabled: true,
      passwordOk: seed.hasPassword === false ? null : seed.state?.state !== 'failed',
      registration: seed.state ?? { state: 'registered', expires: 600 },
    });
    if (seed.isDefault || defaultId === null) defaultId = id;
  }

  /** STUN/TURN per account, once set (`set_account_network`). */
  const networks = new Map<string, { network: AccountNetwork; hasTurnPassword: boolean }>();
  const accountView = (id: string, a: StubAccount): AccountView => ({
    id,
    account: structuredClone(a.account),
    enabled: a.enabled,
    isDefault: id === defaultId,
    unencrypted: /^ws:\/\//i.test(a.account.server.trim()),
    hasPassword: a.passwordOk !== null,
    registration: a.registration,
    ...(networks.has(id) ? structuredClone(networks.get(id)) : {}),
  });

  const setState = (id: string, state: RegistrationState) => {
    const a = accounts.get(id);
    if (!a) return;
    a.registration = state;
    emit('engine', { type: 'registrationChanged', account: id, ...state });
  };

  /** Each save restarts the registration; only the latest attempt reports. */
  const attempts = new Map<string, number>();
  const register = (id: string) => {
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    const current = () => attempts.get(id) === attempt && accounts.has(id);
    const a = accounts.get(id);
    if (!a) return;
    if (a.passwordOk === null) {
      setState(id, { state: 'failed', reason: `No password is saved for ${id}: enter it in Settings → Accounts.` });
      return;
    }
    setState(id, { state: 'registering' });
    setTimeout(() => {
      const now = accounts.get(id);
      if (!current() || !now) return;
      if (/offline|unreachable/i.test(now.account.server)) {
        setState(id, { state: 'retrying', in_seconds: 30 });
      } else if (now.passwordOk) {
        setState(id, { state: 'registered', expires: now.account.expires });
      } else {
        setState(id, { state: 'failed', reason: `The server rejected the password for ${id}.` });
      }
    }, options.registerDelayMs ?? 900);
  };

  const saveAccount = (input: unknown): Promise<unknown> => {
    if (input === null || typeof input !== 'object') return reject('invalid_argument', 'Missing input.');
    const i = input as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    const address = str(i.address) ?? '';
    const server = str(i.server) ?? '';
    const id = stubAccountId(address);
    if (!id) return reject('invalid_account', `The SIP address ${debug(address)} is not valid: write it as user@domain.`);
    const proxy = str(i.outbound_proxy);
    for (const url of [proxy ?? server, server]) {
      if (!stubServerOk(url)) {
        return reject(
          'invalid_account',
          `The server address ${debug(url)} is not valid: write it as wss://host[:port][/path] (or ws:// for an unencrypted test server).`,
        );
      }
    }
    const tls = (i.tls ?? {}) as Record<string, unknown>;
    const fingerprint = str(tls.fingerprint_sha256);
    if (fingerprint !== null && !/^[0-9a-f]{64}$/i.test(fingerprint.replace(/[:\s]/g, ''))) {
      return reject(
        'invalid_account',
        `The certificate fingerprint ${debug(fingerprint)} is not a SHA-256 fingerprint (64 hex digits, colons allowed).`,
      );
    }
    const existing = accounts.get(id);
    const password = str(i.password);
    const passwordOk = password ? password !== STUB_WRONG_PASSWORD : (existing?.passwordOk ?? null);
    const expires = typeof i.expires === 'number' ? i.expires : 600;
    accounts.set(id, {
      account: {
        address,
        auth_user: str(i.auth_user),
        display_name: str(i.display_name),
        server,
        outbound_proxy: proxy,
        expires,
        tls: { ca_file: str(tls.ca_file), fingerprint_sha256: fingerprint },
      },
      enabled: true,
      passwordOk,
      registration: existing?.registration ?? null,
    });
    if (i.makeDefault === true || defaultId === null) defaultId = id;
    emit('engine', { type: 'accountsChanged' });
    register(id);
    const saved = accounts.get(id);
    return saved ? Promise.resolve(accountView(id, saved)) : reject('internal', 'The account vanished while it was saved.');
  };

  const withAccount = (args: Record<string, unknown>, action: (id: string) => void): Promise<unknown> => {
    const id = args.id;
    if (typeof id !== 'string') return reject('invalid_argument', 'Missing id.');
    if (!accounts.has(id)) return reject('unknown_account', `There is no account ${id}.`);
    action(id);
    emit('engine', { type: 'accountsChanged' });
    return Promise.resolve(null);
  };

  const view = (): DialerView => ({ text, canCall: stubCanCall(text) });

  // ---- calls ---------------------------------------------------------------------

  const calls = new Map<string, CallView>();
  // History: written when a call ends, as the engine does.
  let history: HistoryEntry[] = [];
  let historyId = 0;
  const started = new Map<string, number>();
  const connected = new Map<string, number>();
  const record = (entry: Omit<HistoryEntry, 'id'>) => {
    history.push({ id: ++historyId, ...entry });
  };
  for (const entry of options.history ?? []) record(entry);
  const heldByMe = new Set<string>();
  const heldByThem = new Set<string>();
  // Call quality: each connected call's network, a callStats every second.
  const callNetworks = new Map<string, StubNetwork>();
  const reported = new Set<string>();
  let conference: string[] = [];
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  // As the app: calls' levels go only to a window that follows them (a meter is shown).
  let levelsFollowed = false;
  const digits: Record<string, string> = {};
  let callCount = 0;
  const newCallId = () => `stub-call-${++callCount}@homeline.invalid`;
  const defaultAccount = () => defaultId ?? 'alice@pbx.example.com';
  const ringMs = options.ringMs ?? 400;
  const answerMs = options.answerMs ?? 1000;

  // The settings meter (the engine's mic_meter.rs): open while asked, given up to a call.
  let micMeter: string | null = null;
  // The echo test (the engine's media_options.rs): the microphone is open while it runs.
  let echoTest = false;
  let echoTimer: ReturnType<typeof setTimeout> | undefined;
  const closeMicMeter = (reason: string | null) => {
    if (micMeter === null) return;
    const device = micMeter;
    micMeter = null;
    emit('engine', { type: 'microphoneMeter', open: false, device, reason });
  };

  const setCall = (id: string, state: CallState) => {
    const call = calls.get(id);
    if (!call) return;
    if (state.state !== 'ended') closeMicMeter('A call has the microphone now.');
    const next = { call: call.call, account: call.account, remote: call.remote, remoteName: call.remoteName, outgoing: call.outgoing, ...state } as CallView;
    if (!started.has(id)) started.set(id, Date.now());
    if ((state.state === 'active' || state.state === 'held') && !connected.has(id)) connected.set(id, Date.now());
    if (state.state === 'ended') {
      const connectedAt = connected.get(id) ?? null;
      record({
        callId: id,
        account: call.account,
        remote: call.remote,
        remoteName: call.remoteName,
        direction: call.outgoing ? 'out' : 'in',
        startedAt: started.get(id) ?? Date.now(),
        connectedAt,
        endedAt: Date.now(),
        endReason: state.reason,
        endCode: state.code,
        missed: !call.outgoing && connectedAt === null,
      });
      started.delete(id);
      connected.delete(id);
      calls.delete(id);
      heldByMe.delete(id);
      heldByThem.delete(id);
      callNetworks.delete(id);
      reported.delete(id);
      if (conference.includes(id)) setConference(conference.filter((c) => c !== id));
    } else {
      calls.set(id, next);
    }
    syncStats();
    // As in the engine: the row is written (historyChanged) just before the last callChanged.
    if (state.state === 'ended') emit('engine', { type: 'historyChanged' });
    emit('engine', { type: 'callChanged', ...next });
  };
  const connectedState = (id: string): CallState =>
    heldByMe.has(id) ? { state: 'held', by_me: true } : heldByThem.has(id) ? { state: 'held', by_me: false } : { state: 'active' };
  const addCall = (remote: string, name: string | null, outgoing: boolean, state: CallState, network?: StubNetwork): string => {
    const id = newCallId();
    if (network) callNetworks.set(id, network);
    calls.set(id, { call: id, account: defaultAccount(), remote, remoteName: name, outgoing, state: 'dialing' });
    if (state.state === 'held') (state.by_me ? heldByMe : heldByThem).add(id);
    setCall(id, state);
    return id;
  };
  const later = (ms: number, action: () => void) => setTimeout(action, ms);
  const setConference = (members: string[]) => {
    conference = members.length >= 2 ? members : [];
    emit('engine', { type: 'conferenceChanged', calls: [...conference] });
  };
  // As the engine: stats once a second per connected call; warnings and
  // "reconnecting" when they start (here: at the first second).
  const statsTick = () => {
    for (const [id, call] of calls) {
      if (call.state !== 'active' && call.state !== 'held') continue;
      const network = callNetworks.get(id) ?? 'good';
      const since = connected.get(id) ?? Date.now();
      emit('engine', { type: 'callStats', ...stubStats(id, network, Math.max(1, Math.round((Date.now() - since) / 1000))) });
      // The engine sends 20 a second; fixed readings here (screens compare pixels).
      if (call.state === 'active' && levelsFollowed) emit('engine', { type: 'audioLevels', call: id, ...STUB_LEVELS });
      if (reported.has(id)) continue;
      reported.add(id);
      if (network === 'poor') emit('engine', { type: 'callWarnings', call: id, warnings: STUB_POOR_WARNINGS });
      if (network === 'lost') emit('engine', { type: 'callReconnecting', call: id, since: since - 5000 });
    }
  };
  function syncStats(): void {
    const any = [...calls.values()].some((c) => c.state === 'active' || c.state === 'held');
    if (any && statsTimer === undefined) statsTimer = setInterval(statsTick, 1000);
    else if (!any && statsTimer !== undefined) {
      clearInterval(statsTimer);
      statsTimer = undefined;
    }
  }
  const ended = (reason: string, code: number | null, by: string): CallState => ({ state: 'ended', reason, code, by });

  const dial = (target: string): Promise<unknown> => {
    const cleaned = stubClean(target);
    if (!stubCanCall(cleaned)) return reject('invalid_target', 'Type a number or a SIP address to call.');
    // As the engine: a new call puts the ones we talk in on hold (and ends the conference).
    for (const [other, call] of calls) {
      if (call.state === 'active') {
        heldByMe.add(other);
        setCall(other, connectedState(other));
      }
    }
    if (conference.length > 0) setConference([]);
    const id = addCall(cleaned.replace(/^sips?:/, ''), null, true, { state: 'dialing' });
    later(ringMs, () => {
      if (calls.get(id)?.state !== 'dialing') return;
      if (/busy/i.test(cleaned)) return setCall(id, ended('busy', 486, 'remote'));
      if (/declin/i.test(cleaned)) return setCall(id, ended('declined', 603, 'remote'));
      setCall(id, { state: 'ringing' });
      later(answerMs, () => {
        if (calls.get(id)?.state === 'ringing') setCall(id, connectedState(id));
      });
    });
    return Promise.resolve(id);
  };

  /** Run `action` on a known call, or reject as the engine does. */
  const withCall = (args: Record<string, unknown>, action: (id: string, call: CallView) => Promise<unknown> | void): Promise<unknown> => {
    const id = args.call;
    if (typeof id !== 'string') return reject('invalid_argument', 'Missing call.');
    const call = calls.get(id);
    if (!call) return reject('unknown_call', `There is no call ${id}.`);
    return Promise.resolve(action(id, call)).then((v) => v ?? null);
  };

  const ringIn = (from: string, name: string | null = null): string => addCall(from, name, false, { state: 'incoming' });

  if (options.incoming) {
    const { afterMs, from, name } = options.incoming;
    later(afterMs, () => ringIn(from, name));
  }
  for (const seed of options.calls ?? []) addCall(seed.remote, seed.name ?? null, seed.outgoing ?? true, seed.state, seed.network);

  const delay = async () => {
    const ms = typeof options.delayMs === 'function' ? options.delayMs() : options.delayMs ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  };

  const handle = (cmd: string, args: Record<string, unknown>): Promise<unknown> => {
    switch (cmd) {
      case 'app_info': {
        const info: AppInfo = { version, accountsConfigured: accounts.size > 0 };
        return Promise.resolve(info);
      }
      case 'list_accounts':
        return Promise.resolve([...accounts].map(([id, a]) => accountView(id, a)));
      case 'save_account':
        return saveAccount(args.input);
      case 'remove_account':
        return withAccount(args, (id) => {
          accounts.delete(id);
          attempts.delete(id);
          if (defaultId === id) defaultId = accounts.keys().next().value ?? null;
        });
      case 'set_default_account':
        return withAccount(args, (id) => {
          defaultId = id;
        });
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
      case 'dialer_view':
        return Promise.resolve(view());
      case 'dial':
        if (typeof args.target !== 'string') return reject('invalid_argument', 'Missing target.');
        if (accounts.size === 0) {
          return reject('no_account', 'Set up an account to make calls.');
        }
        if (args.account !== undefined && (typeof args.account !== 'string' || !accounts.has(args.account))) {
          return reject('unknown_account', `There is no account ${String(args.account)}.`);
        }
        return dial(args.target);
      case 'list_calls':
        return Promise.resolve([...calls.values()]);
      case 'answer':
        return withCall(args, (id, call) => {
          if (call.state !== 'incoming') return reject('call_failed', 'This call is not ringing.');
          later(150, () => setCall(id, connectedState(id)));
        });
      case 'reject':
        return withCall(args, (id, call) => {
          if (call.state !== 'incoming') return reject('call_failed', 'This call is not ringing.');
          later(50, () => setCall(id, args.busy === true ? ended('busy', 486, 'local') : ended('declined', 603, 'local')));
        });
      case 'hangup':
        return withCall(args, (id, call) => {
          const connected = call.state === 'active' || call.state === 'held';
          later(50, () => setCall(id, connected ? ended('hung up', null, 'local') : ended('cancelled', 487, 'local')));
        });
      case 'hold':
        return withCall(args, (id, call) => {
          if (typeof args.on !== 'boolean') return reject('invalid_argument', 'Missing on.');
          if (call.state !== 'active' && call.state !== 'held') {
            return reject('call_failed', 'The call is not set up yet, so it cannot be put on hold.');
          }
          if (args.on) heldByMe.add(id);
          else heldByMe.delete(id);
          setCall(id, connectedState(id));
        });
      case 'mute':
        return withCall(args, () => {
          if (typeof args.on !== 'boolean') return reject('invalid_argument', 'Missing on.');
        });
      case 'send_dtmf':
        return withCall(args, (id) => {
          if (typeof args.digits !== 'string' || !/^[0-9*#A-D]+$/.test(args.digits)) {
            return reject('invalid_argument', 'Touch tones are 0-9, *, # and A-D.');
          }
          digits[id] = (digits[id] ?? '') + args.digits;
        });
      case 'transfer':
        return withCall(args, (id) => {
          if (typeof args.target !== 'string' || !stubCanCall(stubClean(args.target))) {
            return reject('invalid_target', 'Type a number or a SIP address to transfer to.');
          }
          const progress = (code: number, reason: string, done: boolean) =>
            emit('engine', { type: 'transferProgress', call: id, code, reason, done });
          later(100, () => progress(202, 'Accepted', false));
          later(700, () => progress(180, 'Ringing', false));
          later(1500, () => progress(200, 'OK', true));
        });
      case 'merge_calls': {
        const ids = args.calls;
        if (!Array.isArray(ids) || !ids.every((c) => typeof c === 'string')) return reject('invalid_argument', 'Missing calls.');
        const members = [...new Set([...conference, ...(ids as string[])])];
        for (const id of members) {
          const state = calls.get(id)?.state;
          if (state !== 'active' && state !== 'held') return reject('call_failed', 'Only connected calls can be merged.');
        }
        if (members.length < 2) return reject('call_failed', 'A conference needs two calls.');
        for (const id of members) {
          heldByMe.delete(id);
          setCall(id, connectedState(id));
        }
        setConference(members);
        return Promise.resolve([...conference]);
      }
      case 'split_call':
        return withCall(args, (id) => {
          if (!conference.includes(id)) return reject('call_failed', 'This call is not in the conference.');
          heldByMe.add(id);
          setCall(id, connectedState(id));
          setConference(conference.filter((c) => c !== id));
        });
      case 'set_do_not_disturb':
        if (typeof args.on !== 'boolean') return reject('invalid_argument', 'Missing on.');
        return Promise.resolve(null);
      case 'list_history': {
        const filter = args.filter ?? 'all';
        const search = typeof args.search === 'string' ? args.search.trim().toLowerCase() : '';
        const limit = typeof args.limit === 'number' ? Math.min(args.limit, 1000) : 200;
        const rows = history
          .filter((e) =>
            filter === 'missed' ? e.missed : filter === 'incoming' ? e.direction === 'in' && !e.missed : filter === 'outgoing' ? e.direction === 'out' : true,
          )
          .filter((e) => search === '' || e.remote.toLowerCase().includes(search) || (e.remoteName ?? '').toLowerCase().includes(search))
          .sort((a, b) => b.startedAt - a.startedAt || b.id - a.id)
          .slice(0, limit);
        return Promise.resolve(rows.map((e) => ({ ...e })));
      }
      case 'delete_history':
        if (typeof args.id !== 'number') return reject('invalid_argument', 'Missing id.');
        history = history.filter((e) => e.id !== args.id);
        emit('engine', { type: 'historyChanged' });
        return Promise.resolve(null);
      case 'clear_history':
        history = [];
        emit('engine', { type: 'historyChanged' });
        return Promise.resolve(null);
      case 'get_desktop_prefs':
        return Promise.resolve({ ...desktopPrefs });
      case 'set_desktop_prefs':
        desktopPrefs = { ...desktopPrefs, ...(args.value as typeof desktopPrefs) };
        return Promise.resolve({ ...desktopPrefs });
      case 'get_audio_processing':
        return Promise.resolve({ ...audioProcessing });
      case 'set_audio_processing':
        audioProcessing = { ...audioProcessing, ...(args.value as typeof audioProcessing) };
        return Promise.resolve({ ...audioProcessing });
      case 'get_audio_choice':
        return Promise.resolve(structuredClone(audioChoice));
      case 'set_audio_device': {
        const role = args.role;
        if (role !== 'input' && role !== 'output' && role !== 'ringer') return reject('settings', 'Unknown device role.');
        const list = Array.isArray(args.preference) ? (args.preference as unknown[]).map(String) : null;
        if (!list) return reject('settings', 'Missing preference.');
        const clean: string[] = [];
        for (const id of list.map((x) => x.trim()).filter((x) => x !== '')) {
          if (id === 'default') break;
          if (!clean.includes(id)) clean.push(id);
        }
        if (clean.length > 8) return reject('settings', 'At most 8 devices can be listed for one role.');
        audioChoice = { ...audioChoice, [role]: clean };
        return Promise.resolve(structuredClone(audioChoice));
      }
      case 'set_ringtone': {
        const path = typeof args.path === 'string' && args.path.trim() !== '' ? args.path.trim() : null;
        // As the engine: a file that is not there (here: any name without "ring" in it) or not a WAV is refused.
        if (path !== null && !/ring[^/]*\.wav$/i.test(path)) {
          return reject('settings', path.toLowerCase().endsWith('.wav') ? `The audio file ${path} could not be opened: IO error: No such file or directory (os error 2)` : `The audio file ${path} has a format we cannot read: no RIFF tag found`);
        }
        audioChoice = { ...audioChoice, ringtone: path };
        return Promise.resolve(structuredClone(audioChoice));
      }
      case 'set_account_network': {
        const id = String(args.id);
        const a = accounts.get(id);
        if (!a) return reject('unknown_account', `There is no account ${id}.`);
        const n = (args.network ?? {}) as AccountNetwork;
        if (n.stun && !n.stun.startsWith('stun:')) return reject('invalid_account', 'A STUN server looks like stun:stun.example.com:3478.');
        if (n.turn && !/^turns?:/.test(n.turn)) return reject('invalid_account', 'A TURN server looks like turn:turn.example.com:3478 (add ?transport=tcp for TURN over TCP).');
        if (n.turn && !n.turnUser) return reject('invalid_account', 'The TURN server needs a user name.');
        const had = networks.get(id)?.hasTurnPassword ?? false;
        networks.set(id, { network: structuredClone(n), hasTurnPassword: had || (typeof args.turnPassword === 'string' && args.turnPassword !== '') });
        emit('engine', { type: 'accountsChanged' });
        return Promise.resolve(accountView(id, a));
      }
      case 'network_check':
        return Promise.resolve({
          server: 'wss://pbx.example.com',
          serverConnectMs: 42,
          serverProblem: null,
          findings: ['The server answered in 42 ms.', 'Your network keeps the same public port (STUN works): calls connect directly.'],
        });
      case 'about_info':
        return Promise.resolve({ version, logFolder: '~/.cache/homeline/logs', dataFolder: '~/.local/share/homeline' });
      case 'list_audio_devices':
        return Promise.resolve({
          host: 'pulseaudio',
          inputs: [{ id: 'pulse:mic', name: 'Built-in Microphone', isDefault: true }, { id: 'pulse:headset', name: 'USB Headset', isDefault: false }],
          outputs: [{ id: 'pulse:speakers', name: 'Built-in Speakers', isDefault: true }],
        });
      case 'start_mic_meter': {
        if (calls.size > 0) return reject('not_available', "A call has the microphone: the meters show the call's levels.");
        micMeter = 'pulse:mic';
        emit('engine', { type: 'microphoneMeter', open: true, device: micMeter, reason: null });
        // The engine sends 20 a second; one fixed reading here.
        setTimeout(() => {
          if (micMeter !== null) emit('engine', { type: 'microphoneLevel', device: micMeter, input: STUB_MIC_LEVEL });
        }, 0);
        return Promise.resolve({ device: micMeter });
      }
      case 'stop_mic_meter': {
        const was = micMeter !== null;
        micMeter = null;
        if (was) emit('engine', { type: 'microphoneMeter', open: false, device: 'pulse:mic', reason: null });
        return Promise.resolve(was);
      }
      case 'follow_audio_levels':
        levelsFollowed = args.on === true;
        return Promise.resolve(null);
      case 'mic_meter_state':
        return Promise.resolve(micMeter === null ? null : { device: micMeter });
      case 'start_echo_test': {
        // As the engine: a second start replaces the first; the microphone is open until it ends.
        clearTimeout(echoTimer);
        echoTest = true;
        emit('engine', { type: 'echoTest', running: true });
        echoTimer = setTimeout(() => {
          echoTest = false;
          emit('engine', { type: 'notice', message: 'The echo test has ended.' });
          emit('engine', { type: 'echoTest', running: false });
        }, options.echoTestMs ?? 11_000);
        return Promise.resolve({
          message: 'Echo test started (browser preview: no audio here).',
        });
      }
      case 'echo_test_running':
        return Promise.resolve(echoTest);
      case 'choose_ringtone':
        return Promise.resolve(options.chosenRingtone === undefined ? '/home/alice/Music/office-ring.wav' : options.chosenRingtone);
      default: {
        const reply = contactsStub.handle(cmd, args);
        if (reply === null) return reject('unknown_command', `Unknown command: ${cmd}`);
        return 'ok' in reply ? Promise.resolve(reply.ok) : reject(reply.code, reply.message);
      }
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
    emit,
    get text() {
      return text;
    },
    get echoTest() {
      return echoTest;
    },
    get desktopPrefs() {
      return JSON.parse(JSON.stringify(desktopPrefs)) as Record<string, unknown>;
    },
    get micMeter() {
      return micMeter;
    },
    ringIn,
    remoteEnd(call, reason = 'hung up', code = null) {
      setCall(call, ended(reason, code, 'remote'));
    },
    remoteHold(call, on) {
      if (on) heldByThem.add(call);
      else heldByThem.delete(call);
      const state = calls.get(call)?.state;
      if (state === 'active' || state === 'held') setCall(call, connectedState(call));
    },
    get calls() {
      return [...calls.values()];
    },
    get digits() {
      return { ...digits };
    },
  };
}
