// The Settings screen's other sections: desktop preferences (start
// minimised, start at login, notifications), audio devices, About.

import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';
import type { AboutInfo, AudioDevices, DesktopPrefs, Shortcuts } from './types';

export class PrefsModel {
  prefs = $state<DesktopPrefs | null>(null);
  about = $state<AboutInfo | null>(null);
  devices = $state<AudioDevices | null>(null);
  /** Why the device list is missing (no sound system…). */
  devicesError = $state<string | null>(null);
  saving = $state(false);

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
    if (devices.status === 'fulfilled') {
      this.devices = devices.value;
      this.devicesError = null;
    } else {
      this.devicesError = devices.reason instanceof Error ? devices.reason.message : String(devices.reason);
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

  /** Save the global shortcuts (trimmed; empty = off). */
  async setShortcuts(shortcuts: Shortcuts): Promise<boolean> {
    const trimmed = { answer: shortcuts.answer.trim(), hangUp: shortcuts.hangUp.trim(), mute: shortcuts.mute.trim() };
    const saved = await this.set('shortcuts', trimmed);
    if (saved) this.status.info(Object.values(trimmed).some((s) => s !== '') ? 'Shortcuts saved: they work from any application.' : 'Global shortcuts are off.');
    return saved;
  }
}
