// The Settings screen's other sections: desktop preferences (start
// minimised, start at login, notifications), audio devices, About.

import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';
import type { AboutInfo, AccountNetwork, AudioProcessing, AudioDevices, DesktopPrefs, NetworkReport, Shortcuts } from './types';

export class PrefsModel {
  prefs = $state<DesktopPrefs | null>(null);
  about = $state<AboutInfo | null>(null);
  devices = $state<AudioDevices | null>(null);
  /** Why the device list is missing (no sound system…). */
  devicesError = $state<string | null>(null);
  saving = $state(false);
  /** Voice processing switches; null while the app does not offer them. */
  processing = $state<AudioProcessing | null>(null);
  /** The last network check (for `reportFor`), and whether one runs. */
  report = $state<NetworkReport | null>(null);
  reportFor = $state<string | null>(null);
  checking = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;

  constructor(backend: Backend, status: StatusLine) {
    this.backend = backend;
    this.status = status;
  }

  async load(): Promise<void> {
    const [prefs, about, devices] = await Promise.allSettled([this.backend.getDesktopPrefs(), this.backend.aboutInfo(), this.backend.listAudioDevices()]);
    if (prefs.status === 'fulfilled') this.prefs = prefs.value;
    else this.status.error(prefs.reason);
    if (about.status === 'fulfilled') this.about = about.value;
    // Older shells have no such command: the switches stay hidden.
    this.processing = await this.backend.getAudioProcessing().catch(() => null);
    if (devices.status === 'fulfilled') {
      this.devices = devices.value;
      this.devicesError = null;
    } else {
      this.devicesError = devices.reason instanceof Error ? devices.reason.message : String(devices.reason);
    }
  }

  /** Only the desktop preferences, quietly (at start: was the microphone explained?). True: loaded. */
  async loadPrefs(): Promise<boolean> {
    if (this.prefs) return true;
    try {
      const prefs = await this.backend.getDesktopPrefs();
      // Settings may have loaded (or saved) them meanwhile: theirs are as new.
      this.prefs ??= prefs;
      return true;
    } catch {
      return false;
    }
  }

  /** Change one preference; on refusal it goes back and the reason is shown. True: saved. */
  async set<K extends keyof DesktopPrefs>(key: K, value: DesktopPrefs[K]): Promise<boolean> {
    if (!this.prefs || this.saving) return false;
    const before = this.prefs;
    this.prefs = { ...before, [key]: value };
    this.saving = true;
    try {
      this.prefs = await this.backend.setDesktopPrefs(this.prefs);
      return true;
    } catch (error) {
      this.prefs = before;
      this.status.error(error);
      return false;
    } finally {
      this.saving = false;
    }
  }

  /** Turn one voice processing switch; it goes back with the reason when refused. */
  async setProcessing(key: keyof AudioProcessing, on: boolean): Promise<void> {
    if (!this.processing) return;
    const before = this.processing;
    this.processing = { ...before, [key]: on };
    try {
      this.processing = await this.backend.setAudioProcessing(this.processing);
    } catch (error) {
      this.processing = before;
      this.status.error(error);
    }
  }

  /** Save an account's STUN/TURN servers; the engine's sentence when refused. True: saved. */
  async saveNetwork(id: string, network: AccountNetwork, turnPassword: string): Promise<boolean> {
    const clean = Object.fromEntries(Object.entries(network).map(([k, v]) => [k, String(v ?? '').trim()]).filter(([, v]) => v !== '')) as AccountNetwork;
    try {
      await this.backend.setAccountNetwork(id, clean, turnPassword === '' ? null : turnPassword);
      this.status.info(`Network settings saved for ${id}.`);
      return true;
    } catch (error) {
      this.status.error(error);
      return false;
    }
  }

  /** The pre-call network check for an account (a few seconds). */
  async checkNetwork(id: string): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    this.status.progress('Checking the network…');
    try {
      this.report = await this.backend.networkCheck(id);
      this.reportFor = id;
      this.status.clear();
    } catch (error) {
      this.status.error(error);
    } finally {
      this.checking = false;
    }
  }

  /** Save the global shortcuts (trimmed; empty = off). */
  async setShortcuts(shortcuts: Shortcuts): Promise<boolean> {
    const trimmed = { answer: shortcuts.answer.trim(), hangUp: shortcuts.hangUp.trim(), mute: shortcuts.mute.trim() };
    const saved = await this.set('shortcuts', trimmed);
    if (saved) this.status.info(Object.values(trimmed).some((s) => s !== '') ? 'Shortcuts saved: they work from any application.' : 'Global shortcuts are off.');
    return saved;
  }
}
