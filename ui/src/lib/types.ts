// Shapes exchanged with the Rust side over Tauri IPC.
// Field names are camelCase on the wire (serde `rename_all = "camelCase"`).

/** What the dialer display shows. The engine owns it: the UI only renders it. */
export interface DialerView {
  /** The cleaned number, e.g. "+4930123456" (letters already turned into digits). */
  text: string;
  /** True when `text` is something the engine would try to dial. */
  canCall: boolean;
}

/** `app_info` result, asked once at start. */
export interface AppInfo {
  version: string;
  accountsConfigured: boolean;
}

/** `start_echo_test` result. */
export interface EchoTestStarted {
  /** A sentence for the status line, e.g. "Echo test started: speak and you will hear yourself." */
  message: string;
}

/** Extra trust for a server the system roots do not cover (settings-file format: snake_case). */
export interface TlsTrust {
  ca_file: string | null;
  fingerprint_sha256: string | null;
}

/**
 * One SIP account as configured. NOTE: snake_case, because it is also the
 * settings-file format (crates/sip/src/account.rs). Never holds the password.
 */
export interface Account {
  /** `alice@example.com` (or `sip:alice@example.com`). */
  address: string;
  auth_user: string | null;
  display_name: string | null;
  /** `wss://host[:port][/path]`; `ws://` is unencrypted. */
  server: string;
  outbound_proxy: string | null;
  /** Registration lifetime asked for, in seconds. */
  expires: number;
  tls: TlsTrust;
}

/** A registration's state (crates/sip RegistrationState, tagged by `state`). */
export type RegistrationState =
  | { state: 'registering' }
  | { state: 'registered'; expires: number }
  | { state: 'failed'; reason: string }
  | { state: 'retrying'; in_seconds: number }
  | { state: 'unregistered' };

/** `list_accounts` item and `save_account` result. */
export interface AccountView {
  /** `user@domain`: the account's id (and its keychain entry's name). */
  id: string;
  account: Account;
  enabled: boolean;
  isDefault: boolean;
  /** `ws://`: signalling travels unencrypted. */
  unencrypted: boolean;
  /** A password is saved in the keychain. */
  hasPassword: boolean;
  /** The registration's last state (null before it starts). */
  registration: RegistrationState | null;
  /** Its STUN/TURN servers (left out by engines that have none to report). */
  network?: AccountNetwork;
  /** A TURN password is saved in the keychain. */
  hasTurnPassword?: boolean;
}

/** An account's STUN/TURN servers (camelCase; left out when not set). */
export interface AccountNetwork {
  stun?: string;
  turn?: string;
  turnUser?: string;
}

/** The microphone's voice processing switches (`get_audio_processing`). */
export interface AudioProcessing {
  echoCancellation: boolean;
  noiseSuppression: boolean;
  autoGain: boolean;
}

/** `network_check` result: the findings are sentences for the screen. */
export interface NetworkReport {
  server: string;
  serverConnectMs: number | null;
  serverProblem: string | null;
  findings: string[];
}

/**
 * `save_account` input: the account's fields flattened (snake_case), plus
 * `password` (omitted = keep the saved one) and `makeDefault` (camelCase).
 */
export interface AccountInput {
  address: string;
  server: string;
  auth_user?: string;
  display_name?: string;
  outbound_proxy?: string;
  expires?: number;
  tls?: { ca_file?: string; fingerprint_sha256?: string };
  password?: string;
  makeDefault?: boolean;
}

/**
 * Where a call stands (crates/phone/src/telephony.rs CallState, tagged by
 * `state`). NOTE: the state's own fields are snake_case (`by_me`).
 */
export type CallState =
  | { state: 'dialing' }
  | { state: 'ringing' }
  | { state: 'early_media' }
  | { state: 'incoming' }
  | { state: 'active' }
  /** `by_me`: we put the call on hold; false: the other side did. */
  | { state: 'held'; by_me: boolean }
  /** `reason` is a sentence; `code` the SIP status (null when none); `by`: 'local' | 'remote' | 'network'. */
  | { state: 'ended'; reason: string; code: number | null; by: string };

export type CallStateName = CallState['state'];

/** One call (`list_calls` item and `callChanged` event): its fields, with the CallState flattened in. */
export type CallView = {
  /** The call's id (its SIP Call-ID). */
  call: string;
  /** The account it belongs to (`user@domain`). */
  account: string;
  /** The other side: a number or `user@domain`. */
  remote: string;
  /** The other side's display name, when it sent one. */
  remoteName: string | null;
  outgoing: boolean;
  /** Our microphone is muted in this call (the engine's word, so a reopened window agrees). */
  muted?: boolean;
  /** When the call first connected, in ms since the epoch (the timer survives a reopened window). */
  connectedAt?: number | null;
} & CallState;

/** Payloads of the Tauri event `engine` (crates/phone/src/events.rs). */
export type EngineEvent =
  | { type: 'ready'; version: string }
  | ({ type: 'registrationChanged'; account: string } & RegistrationState)
  | { type: 'accountsChanged' }
  | { type: 'notice'; message: string }
  | ({ type: 'dialerChanged' } & DialerView)
  | ({ type: 'callChanged' } & CallView)
  | { type: 'dtmfReceived'; call: string; digit: string }
  /** A call turned away (Do Not Disturb). NOTE: `from_name` is snake_case. */
  | { type: 'missedCall'; account: string; from: string; from_name: string | null; reason: string }
  | { type: 'transferProgress'; call: string; code: number; reason: string; done: boolean }
  /** The call history changed: list it again. */
  | { type: 'historyChanged' }
  /** Once a second per connected call. */
  | ({ type: 'callStats' } & CallStats)
  /** Network problems of a call in words (empty: all well again). */
  | { type: 'callWarnings'; call: string; warnings: CallWarning[] }
  /** The media path was lost at `since` (ms since the epoch; null: the audio is back). */
  | { type: 'callReconnecting'; call: string; since: number | null }
  /** The calls mixed together in the local conference (empty: none). */
  | { type: 'conferenceChanged'; calls: string[] };

/** One second of one call (crates/phone/src/call_stats.rs). */
export interface CallStats {
  call: string;
  /** As SDP names it: `opus`, `PCMU`, `PCMA` (null before media flows). */
  codec: string | null;
  bitrateKbps: number;
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  /** Of what should have arrived over the last second. */
  lossPercent: number;
  jitterMs: number | null;
  rttMs: number | null;
  /** Listening quality estimate, 1 (bad) to 4.5 (best). */
  mos: number | null;
}

/** What is wrong with a call's network (crates/phone/src/coaching.rs). */
export type CallProblem = 'loss' | 'jitter' | 'delay' | 'poorQuality';

export interface CallWarning {
  problem: CallProblem;
  /** The engine's sentence, shown as is. */
  message: string;
}

/** Which calls `list_history` returns (missed: incoming never answered, or Do Not Disturb). */
export type HistoryFilter = 'all' | 'missed' | 'incoming' | 'outgoing';

/** One past call (`list_history` item; crates/store/src/history.rs). Times in ms since the epoch. */
export interface HistoryEntry {
  id: number;
  callId: string;
  account: string;
  remote: string;
  remoteName: string | null;
  direction: 'in' | 'out';
  startedAt: number;
  connectedAt: number | null;
  endedAt: number;
  endReason: string;
  endCode: number | null;
  missed: boolean;
}

/** One number of a contact (crates/store/src/contacts.rs). */
export type PhoneLabel = 'mobile' | 'work' | 'home' | 'fax' | 'other';
export interface PhoneNumber {
  label: PhoneLabel;
  /** A phone number or a SIP address, as the user typed it. */
  number: string;
}

/** A contact as edited (`save_contact` input; camelCase). */
export interface ContactInput {
  name: string;
  organization: string | null;
  email: string | null;
  numbers: PhoneNumber[];
  favorite: boolean;
}

/** A stored contact (`list_contacts` item). */
export interface Contact extends ContactInput {
  id: number;
}

/** `list_contacts` result: `warning` is a sentence when the old file was unreadable. */
export interface ContactList {
  contacts: Contact[];
  warning: string | null;
}

/** `import_vcard` result. */
export interface ImportReport {
  added: number;
  /** Cards with neither a name nor a number. */
  skipped: number;
}

export type VcardVersion = '3.0' | '4.0';

/** The desktop shell's preferences (src-tauri/src/prefs.rs; `desktop.toml`). */
export interface DesktopPrefs {
  /** Open in the tray, without the window. */
  startMinimised: boolean;
  /** Start with the session (login item). */
  startAtLogin: boolean;
  /** Desktop notifications for incoming and missed calls. */
  notifications: boolean;
  /** Global key combinations ("Ctrl+Alt+A"); empty: off. */
  shortcuts: Shortcuts;
  /** A clicked tel:/sip: link only fills the dialer (true) or is dialed at once (false). */
  askBeforeLinkCall: boolean;
  /** Why Homeline uses the microphone was explained (shown once; missing in older shells: false). */
  micExplained: boolean;
}

export interface Shortcuts {
  answer: string;
  hangUp: string;
  mute: string;
}

/** `about_info` result. */
export interface AboutInfo {
  version: string;
  logFolder: string | null;
  dataFolder: string | null;
}

export interface AudioDevice {
  id: string;
  name: string;
  isDefault: boolean;
}

/** `list_audio_devices` result (`host`: 'pulseaudio' or 'alsa'). */
export interface AudioDevices {
  host: string;
  inputs: AudioDevice[];
  outputs: AudioDevice[];
}

/** The part a device plays: the calls' microphone, their speaker, where calls ring. */
export type DeviceRole = 'input' | 'output' | 'ringer';

/**
 * `get_audio_choice`: each role's device ids, most preferred first (empty: follow the
 * system default); the ringtone's WAV path (null: the built-in ring).
 */
export interface AudioChoice {
  input: string[];
  output: string[];
  ringer: string[];
  ringtone: string | null;
}

/** One meter reading in dBFS (silence reads −100). */
export interface AudioLevel {
  rmsDbfs: number;
  peakDbfs: number;
}

/** `audioLevels` event: a call's microphone and speaker, 20 times a second. */
export interface AudioLevels {
  call: string;
  input: AudioLevel;
  output: AudioLevel;
}

/** `start_mic_meter` reply: the microphone Settings → Audio meters outside a call. */
export interface MicMeterView {
  device: string;
}

/** `microphoneLevel` event: the settings meter's microphone, 20 times a second. */
export interface MicrophoneLevel {
  device: string;
  input: AudioLevel;
}

/** `microphoneMeter` event: the settings meter opened or closed the microphone (`reason`: closed by itself). */
export interface MicrophoneMeter {
  open: boolean;
  device: string | null;
  reason: string | null;
}

/** `echoTest` event: the echo test started (the microphone is open) or ended. */
export interface EchoTestEvent {
  running: boolean;
}

/** Name of the Tauri event that carries every EngineEvent. */
export const ENGINE_EVENT = 'engine';

/** Every command rejects with this (the engine's error as a code and a sentence). */
export interface BackendErrorPayload {
  code: string;
  message: string;
}

/**
 * The command contract: name → argument object and success value.
 * Keep in sync with the `#[tauri::command]`s in src-tauri and with ui/README.md.
 */
export interface Commands {
  app_info: { args: Record<string, never>; result: AppInfo };
  dialer_press: { args: { key: string }; result: DialerView };
  dialer_backspace: { args: Record<string, never>; result: DialerView };
  dialer_paste: { args: { text: string }; result: DialerView };
  dialer_clear: { args: Record<string, never>; result: DialerView };
  /** The dial string as the engine holds it (a link or the tray may have filled it). */
  dialer_view: { args: Record<string, never>; result: DialerView };
  /** Resolves to the new call's id; `account` (an account id) defaults to the default account. */
  dial: { args: { target: string; account?: string }; result: string };
  list_calls: { args: Record<string, never>; result: CallView[] };
  answer: { args: { call: string }; result: null };
  /** `busy`: 486 Busy Here, else 603 Decline. */
  reject: { args: { call: string; busy: boolean }; result: null };
  hangup: { args: { call: string }; result: null };
  hold: { args: { call: string; on: boolean }; result: null };
  mute: { args: { call: string; on: boolean }; result: null };
  send_dtmf: { args: { call: string; digits: string }; result: null };
  /** Blind transfer: the other side is asked to call `target`. */
  transfer: { args: { call: string; target: string }; result: null };
  /** Mix `calls` into the local conference (with the one running); resolves to its members. */
  merge_calls: { args: { calls: string[] }; result: string[] };
  /** Take `call` out of the conference (it goes on hold). */
  split_call: { args: { call: string }; result: null };
  set_do_not_disturb: { args: { on: boolean }; result: null };
  list_accounts: { args: Record<string, never>; result: AccountView[] };
  save_account: { args: { input: AccountInput }; result: AccountView };
  remove_account: { args: { id: string }; result: null };
  set_default_account: { args: { id: string }; result: null };
  start_echo_test: { args: Record<string, never>; result: EchoTestStarted };
  /** Newest first; `search` matches number or name; `limit` defaults to 200 (at most 1000). */
  list_history: { args: { filter: HistoryFilter; search: string | null; limit: number }; result: HistoryEntry[] };
  delete_history: { args: { id: number }; result: null };
  clear_history: { args: Record<string, never>; result: null };
  /** By name; `search` matches name, organisation or number; `favorites`: starred ones only. */
  list_contacts: { args: { search: string | null; favorites: boolean }; result: ContactList };
  /** Add (`id` null) or replace a contact; resolves to it as stored. */
  save_contact: { args: { id: number | null; contact: ContactInput }; result: Contact };
  delete_contact: { args: { id: number }; result: null };
  set_favorite: { args: { id: number; on: boolean }; result: null };
  /** A whole .vcf file's text (8 MB at most); all cards or none. */
  import_vcard: { args: { text: string }; result: ImportReport };
  /** Every contact (or those in `ids`) as one vCard file. */
  export_vcard: { args: { ids: number[] | null; version: VcardVersion }; result: string };
  get_desktop_prefs: { args: Record<string, never>; result: DesktopPrefs };
  /** Applies "start at login" to the OS, then saves; resolves to what was saved. */
  set_desktop_prefs: { args: { value: DesktopPrefs }; result: DesktopPrefs };
  about_info: { args: Record<string, never>; result: AboutInfo };
  list_audio_devices: { args: Record<string, never>; result: AudioDevices };
  get_audio_processing: { args: Record<string, never>; result: AudioProcessing };
  /** Applied at once, calls in progress included; resolves to what was saved. */
  set_audio_processing: { args: { value: AudioProcessing }; result: AudioProcessing };
  get_audio_choice: { args: Record<string, never>; result: AudioChoice };
  /** One role's ids, most preferred first (`[]`: the system default; 8 at most); resolves to every role. */
  set_audio_device: { args: { role: DeviceRole; preference: string[] }; result: AudioChoice };
  /** A WAV file's full path, or null for the built-in ring; a file that cannot play is refused with the reason. */
  set_ringtone: { args: { path: string | null }; result: AudioChoice };
  /** The desktop's file dialog for the ringtone: the chosen path, or null when cancelled (nothing is saved). */
  choose_ringtone: { args: Record<string, never>; result: string | null };
  start_mic_meter: { args: Record<string, never>; result: MicMeterView };
  stop_mic_meter: { args: Record<string, never>; result: boolean };
  /** Send each call's `audioLevels` (20 a second) to this window (`on`), or stop: only a shown meter wants them. */
  follow_audio_levels: { args: { on: boolean }; result: null };
  /** The settings meter's microphone while it is open (null: closed). */
  mic_meter_state: { args: Record<string, never>; result: MicMeterView | null };
  /** Whether the echo test runs now (it has the microphone open). */
  echo_test_running: { args: Record<string, never>; result: boolean };
  /** `turnPassword` null keeps the saved one. */
  set_account_network: { args: { id: string; network: AccountNetwork; turnPassword: string | null }; result: AccountView };
  /** Takes a few seconds. */
  network_check: { args: { id: string | null }; result: NetworkReport };
}

export type CommandName = keyof Commands;

/** Low-level transport: Tauri's `invoke`, or the in-memory stub. */
export type InvokeFn = (cmd: string, args: Record<string, unknown>) => Promise<unknown>;

/** Low-level event subscription: Tauri's `listen`, or the stub's emitter. */
export type ListenFn = (
  event: string,
  handler: (payload: unknown) => void,
) => Promise<() => void>;
