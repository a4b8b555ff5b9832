// Settings → Audio state: each role's device preference and the ringtone (saved
// by the engine at once, calls in progress included), and the live level meters
// (the engine's `audioLevels` events, sent while a call has the microphone open; outside
// a call, the settings meter: the microphone opened while this section is shown, with
// `microphoneLevel` events, closed when it goes or a call takes the microphone).

import { callEvent, choose, checkRingtone, endedCall, parseAudioLevels, parseMicrophoneLevel, parseMicrophoneMeter } from './audio-settings';
import type { Backend, Unlisten } from './backend';
import type { StatusLine } from './status.svelte';
import { ENGINE_EVENT, type AudioChoice, type AudioLevel, type AudioLevels, type DeviceRole } from './types';

/** The meter's note when the first-use explanation was answered "Not now". */
export const METER_DECLINED = 'The meter is off: your microphone stays closed until you allow it (open Settings again).';

/** Meters fall back to "no call" when no reading came for this long. */
export const LEVELS_STALE_MS = 2500;

export class AudioSettingsModel {
  /** Null while not loaded, or when the app has no such commands (the selects stay hidden). */
  choice = $state<AudioChoice | null>(null);
  /** The role being saved. */
  saving = $state<DeviceRole | null>(null);
  /** The engine's (or the field's) reason the ringtone was refused, in words. */
  ringtoneError = $state<string | null>(null);
  ringtoneSaving = $state(false);
  /** The latest meter reading of a call; null: no call is sending levels. */
  levels = $state<AudioLevels | null>(null);
  /** The settings meter's microphone (device id) while it is open; null: closed. */
  micOpen = $state<string | null>(null);
  /** The settings meter's latest reading. */
  micLevel = $state<AudioLevel | null>(null);
  /** Why the settings meter is not running, in words (refused, or a call took the microphone). */
  micNote = $state<string | null>(null);

  readonly backend: Backend;
  readonly status: StatusLine;
  private staleTimer: ReturnType<typeof setTimeout> | undefined;
  /** The section is shown: the meter should run whenever no call has the microphone. */
  private meterWanted = false;
  private opening: Promise<void> | null = null;

  /** Asked before the meter opens the microphone (the first-use explanation); true: go ahead. */
  readonly #permit: () => Promise<boolean>;
  /** The meter no longer wants the microphone: a question still open goes. */
  readonly #withdraw: () => void;

  constructor(backend: Backend, status: StatusLine, consent: { permit: () => Promise<boolean>; withdraw: () => void } | null = null) {
    this.backend = backend;
    this.status = status;
    this.#permit = consent?.permit ?? (() => Promise.resolve(true));
    this.#withdraw = consent?.withdraw ?? (() => {});
  }

  async load(): Promise<void> {
    // Older shells have no such command: the device choice stays hidden.
    this.choice = await this.backend.getAudioChoice().catch(() => null);
  }

  /** Row `index` of `role` set to `value` (a device id or "default"); goes back with the reason when refused. */
  async choose(role: DeviceRole, index: number, value: string): Promise<boolean> {
    const before = this.choice;
    if (!before) return false;
    const preference = choose(before[role], index, value);
    this.choice = { ...before, [role]: preference };
    this.saving = role;
    try {
      this.choice = await this.backend.setAudioDevice(role, preference);
      return true;
    } catch (error) {
      this.choice = before;
      this.status.error(error);
      return false;
    } finally {
      this.saving = null;
    }
  }

  /** Ring with the WAV file at `typed` (empty: the built-in ring). True: saved. */
  async setRingtone(typed: string): Promise<boolean> {
    const checked = checkRingtone(typed);
    if ('error' in checked) {
      this.ringtoneError = checked.error;
      return false;
    }
    this.ringtoneSaving = true;
    try {
      this.choice = await this.backend.setRingtone(checked.path);
      this.ringtoneError = null;
      this.status.info(checked.path === null ? 'Incoming calls ring with the built-in ring.' : 'Incoming calls ring with this file.');
      return true;
    } catch (error) {
      this.ringtoneError = error instanceof Error ? error.message : String(error);
      return false;
    } finally {
      this.ringtoneSaving = false;
    }
  }

  /**
   * "Choose a file…": the desktop's file dialog, then the chosen file saved as
   * `setRingtone` saves a typed one. Resolves to the chosen path (null:
   * cancelled, or the dialog could not open: the reason is in `ringtoneError`).
   */
  async chooseRingtone(): Promise<string | null> {
    let chosen: string | null;
    try {
      chosen = await this.backend.chooseRingtone();
    } catch (error) {
      this.ringtoneError = error instanceof Error ? error.message : String(error);
      return null;
    }
    if (chosen !== null) await this.setRingtone(chosen);
    return chosen;
  }

  /** The section is shown: open the microphone for the meter (refused in words during a call). */
  openMeter(): Promise<void> {
    this.meterWanted = true;
    if (this.micOpen !== null) return Promise.resolve();
    this.opening ??= this.#permit()
      .then((allowed) => {
        if (allowed) return this.backend.startMicMeter();
        if (this.meterWanted) this.micNote = METER_DECLINED;
        return null;
      })
      .then(
        async (view) => {
          if (view === null) return;
          if (!this.meterWanted) {
            // The section went while the microphone opened: close it again.
            await this.backend.stopMicMeter().catch(() => false);
            return;
          }
          this.micOpen = view.device;
          this.micNote = null;
        },
        (error: unknown) => {
          this.micOpen = null;
          this.micNote = error instanceof Error ? error.message : typeof error === 'object' && error && 'message' in error ? String(error.message) : String(error);
        },
      )
      .finally(() => (this.opening = null));
    return this.opening;
  }

  /** The section goes: the meter's microphone is closed (resolves once the engine closed it). */
  async closeMeter(): Promise<void> {
    this.meterWanted = false;
    this.#withdraw();
    this.micLevel = null;
    if (this.micOpen === null) return;
    this.micOpen = null;
    await this.backend.stopMicMeter().catch(() => false);
  }

  /** Follow the meters; resolves to the unsubscribe function. */
  async follow(): Promise<Unlisten> {
    const stop = await this.backend.onEvent<unknown>(ENGINE_EVENT, (payload) => this.apply(payload));
    // The app sends a call's levels (20 a second) only while a meter is shown:
    // a window that draws none should not wake for them.
    await this.backend.followAudioLevels(true).catch(() => {});
    return () => {
      void this.backend.followAudioLevels(false).catch(() => {});
      stop();
      clearTimeout(this.staleTimer);
      this.levels = null;
    };
  }

  /** One engine event (exposed for tests). */
  apply(payload: unknown): void {
    const levels = parseAudioLevels(payload);
    if (levels) {
      this.levels = levels;
      clearTimeout(this.staleTimer);
      this.staleTimer = setTimeout(() => (this.levels = null), LEVELS_STALE_MS);
      return;
    }
    const mic = parseMicrophoneLevel(payload);
    if (mic) {
      if (this.micOpen !== null) this.micLevel = mic.input;
      return;
    }
    const meter = parseMicrophoneMeter(payload);
    if (meter) {
      this.micOpen = meter.open && this.meterWanted ? meter.device : null;
      if (!meter.open) {
        this.micLevel = null;
        if (meter.reason) this.micNote = meter.reason;
      }
      return;
    }
    const ended = endedCall(payload);
    if (ended !== null && this.levels?.call === ended) {
      clearTimeout(this.staleTimer);
      this.levels = null;
    }
    // A call ended while the section is shown: the meter takes the microphone back
    // (refused, in words, while another call goes on).
    if (callEvent(payload) === 'ended' && this.meterWanted && this.micOpen === null) void this.openMeter();
  }
}
