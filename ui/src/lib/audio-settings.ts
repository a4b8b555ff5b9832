// Settings → Audio, the pure part (unit-tested): each role's ordered device
// preference as rows of selects, a choice applied to the list, the ringtone
// path checked, the level meters' readings.

import type { AudioDevice, AudioDevices, AudioLevel, AudioLevels, DeviceRole, MicrophoneLevel, MicrophoneMeter } from './types';

/** The value of "System default" in a select (the engine reads it as "follow the system"). */
export const SYSTEM_DEFAULT = 'default';
/** How many devices one role may list (the engine's limit). */
export const MAX_PREFERRED = 8;

export interface RoleInfo {
  role: DeviceRole;
  /** The first select's label. */
  label: string;
  /** What the devices are called in sentences ("microphone"). */
  noun: string;
  /** Which list of `list_audio_devices` it chooses from. */
  devices: 'inputs' | 'outputs';
}

export const ROLES: ReadonlyArray<RoleInfo> = [
  { role: 'input', label: 'Microphone', noun: 'microphone', devices: 'inputs' },
  { role: 'output', label: 'Speaker', noun: 'speaker', devices: 'outputs' },
  { role: 'ringer', label: 'Ringer', noun: 'ringer', devices: 'outputs' },
];

export interface DeviceOption {
  value: string;
  label: string;
}

/** One select of a role: the device at `index` of the preference (or "System default"). */
export interface PreferenceRow {
  index: number;
  value: string;
  options: DeviceOption[];
  /** Visible label: the role for the first row, "then" for the fall-backs. */
  label: string;
  /** The whole sentence for screen readers. */
  ariaLabel: string;
}

/** "System default (Built-in Microphone)": the default's name when the system says which it is. */
export function defaultLabel(devices: AudioDevice[]): string {
  const current = devices.find((d) => d.isDefault);
  return current ? `System default (${current.name})` : 'System default';
}

/** A device's name; an id in the preference that is not plugged in now shows as such. */
export function deviceLabel(id: string, devices: AudioDevice[]): string {
  const device = devices.find((d) => d.id === id);
  return device ? device.name : `${id} (not connected)`;
}

/**
 * The selects for one role: one per device in the preference, then one more ("then…")
 * while devices are left to add; the last row's "System default" ends the list.
 * Each row offers the devices not chosen above it.
 */
export function preferenceRows(info: RoleInfo, preference: string[], devices: AudioDevice[]): PreferenceRow[] {
  const list = normalise(preference);
  const rows: PreferenceRow[] = [];
  const count = list.length < MAX_PREFERRED && devices.some((d) => !list.includes(d.id)) ? list.length + 1 : list.length;
  for (let index = 0; index < Math.max(count, 1); index += 1) {
    const above = list.slice(0, index);
    const value = list[index] ?? SYSTEM_DEFAULT;
    const options: DeviceOption[] = [{ value: SYSTEM_DEFAULT, label: defaultLabel(devices) }];
    for (const d of devices) if (!above.includes(d.id)) options.push({ value: d.id, label: d.name });
    if (value !== SYSTEM_DEFAULT && !devices.some((d) => d.id === value)) options.push({ value, label: deviceLabel(value, devices) });
    const ariaLabel =
      index === 0
        ? `${info.label} (used first)`
        : `Then: ${info.noun} choice ${index + 1}, used when ${index === 1 ? 'the one above is' : 'the ones above are'} missing`;
    rows.push({ index, value, options, label: index === 0 ? info.label : 'then', ariaLabel });
  }
  return rows;
}

/** Ids trimmed, blanks and repeats dropped, cut at "default" and at the limit (as the engine does). */
export function normalise(preference: string[]): string[] {
  const out: string[] = [];
  for (const raw of preference) {
    const id = raw.trim();
    if (id === '') continue;
    if (id === SYSTEM_DEFAULT) break;
    if (!out.includes(id)) out.push(id);
  }
  return out.slice(0, MAX_PREFERRED);
}

/**
 * The preference after row `index` was set to `value`: "System default" drops that row
 * and those below it; a device takes the row's place (and leaves a lower row it was in).
 */
export function choose(preference: string[], index: number, value: string): string[] {
  const list = normalise(preference);
  if (value === SYSTEM_DEFAULT || value.trim() === '') return list.slice(0, index);
  const next = list.slice(0, index);
  next.push(value, ...list.slice(index + 1));
  return normalise(next);
}

/** The devices a role chooses from. */
export function devicesFor(devices: AudioDevices | null, info: RoleInfo): AudioDevice[] {
  return devices ? devices[info.devices] : [];
}

/** What the role uses now, in words ("USB Headset, then System default"). */
export function preferenceWords(preference: string[], devices: AudioDevice[]): string {
  const list = normalise(preference);
  if (list.length === 0) return defaultLabel(devices);
  return [...list.map((id) => deviceLabel(id, devices)), 'System default'].join(', then ');
}

/**
 * A ringtone path as typed: `{ path: null }` for the built-in ring (empty field), the
 * trimmed path, or the reason it cannot be one (said before asking the engine).
 */
export function checkRingtone(typed: string): { path: string | null } | { error: string } {
  const path = typed.trim();
  if (path === '') return { path: null };
  if (path.length > 4096 || /[\u0000-\u001f\u007f]/.test(path)) return { error: 'That is not a file path: type the full path of a WAV file.' };
  if (!path.startsWith('/')) return { error: 'Type the full path of the WAV file (starting with /).' };
  return { path };
}

/** The meters' scale: −60 dBFS (empty) to 0 dBFS (full). */
export const METER_FLOOR_DB = -60;

/** How full a meter is (0 to 1) for a reading in dBFS. */
export function meterFraction(dbfs: number): number {
  if (!Number.isFinite(dbfs)) return 0;
  return Math.min(1, Math.max(0, (dbfs - METER_FLOOR_DB) / -METER_FLOOR_DB));
}

/** A reading in words for screen readers: "silent" or "−18 dB". */
export function levelWords(dbfs: number): string {
  if (!Number.isFinite(dbfs) || dbfs <= METER_FLOOR_DB) return 'silent';
  return `${Math.round(dbfs)} dB`.replace('-', '−');
}

function toLevel(value: unknown): AudioLevel | null {
  if (value === null || typeof value !== 'object') return null;
  const r = value as Record<string, unknown>;
  return typeof r.rmsDbfs === 'number' && typeof r.peakDbfs === 'number' ? { rmsDbfs: r.rmsDbfs, peakDbfs: r.peakDbfs } : null;
}

/** An `audioLevels` engine event checked, or null (another event, or malformed). */
export function parseAudioLevels(payload: unknown): AudioLevels | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  if (r.type !== 'audioLevels' || typeof r.call !== 'string') return null;
  const input = toLevel(r.input);
  const output = toLevel(r.output);
  return input && output ? { call: r.call, input, output } : null;
}

/** The call an engine event says has ended (its meters stop), or null. */
export function endedCall(payload: unknown): string | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  return r.type === 'callChanged' && r.state === 'ended' && typeof r.call === 'string' ? r.call : null;
}

/** A `microphoneLevel` event (the settings meter outside a call) checked, or null. */
export function parseMicrophoneLevel(payload: unknown): MicrophoneLevel | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  if (r.type !== 'microphoneLevel' || typeof r.device !== 'string') return null;
  const input = toLevel(r.input);
  return input ? { device: r.device, input } : null;
}

/** A `microphoneMeter` event (the meter opened or closed the microphone) checked, or null. */
export function parseMicrophoneMeter(payload: unknown): MicrophoneMeter | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  if (r.type !== 'microphoneMeter' || typeof r.open !== 'boolean') return null;
  const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
  return { open: r.open, device: text(r.device), reason: text(r.reason) };
}

/** A call's event: 'ended' when it ended, 'live' for any other state, null: not a call event. */
export function callEvent(payload: unknown): 'ended' | 'live' | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  if (r.type !== 'callChanged' || typeof r.call !== 'string') return null;
  return r.state === 'ended' ? 'ended' : 'live';
}

/** What the meters show: a call's levels first (it has the microphone), else the settings meter's. */
export function meterReadings(call: AudioLevels | null, mic: AudioLevel | null): { input: AudioLevel | null; output: AudioLevel | null } {
  if (call) return { input: call.input, output: call.output };
  return { input: mic, output: null };
}

/** The device's name for the "microphone on" line (its id when the list does not have it). */
export function deviceName(devices: AudioDevices | null, id: string): string {
  return devices?.inputs.find((d) => d.id === id)?.name ?? id;
}
