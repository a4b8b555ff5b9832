import { describe, expect, it } from 'vitest';
import { createBackend, parseAboutInfo, parseAudioDevices, parseDesktopPrefs } from './backend';
import { createBackendStub } from './backend-stub';
import { PrefsModel } from './prefs.svelte';
import { StatusLine } from './status.svelte';
import type { InvokeFn } from './types';

function setup(wrap: (invoke: InvokeFn) => InvokeFn = (i) => i) {
  const stub = createBackendStub();
  const backend = createBackend(wrap(stub.invoke), stub.listen, 'stub');
  const status = new StatusLine();
  return { model: new PrefsModel(backend, status), status };
}

describe('PrefsModel', () => {
  it('loads preferences, devices and About, and saves a switch', async () => {
    const { model } = setup();
    await model.load();
    expect(model.prefs).toEqual({ startMinimised: false, startAtLogin: false, notifications: true, shortcuts: { answer: '', hangUp: '', mute: '' }, askBeforeLinkCall: true, micExplained: true });
    expect(model.devices?.inputs.map((d) => d.isDefault)).toEqual([true, false]);
    expect(model.about?.version).toBe('0.0.0-preview');
    await model.set('startAtLogin', true);
    expect(model.prefs?.startAtLogin).toBe(true);
    await model.load();
    expect(model.prefs?.startAtLogin).toBe(true);
  });

  it('puts a refused switch back and says why; a missing sound system is told', async () => {
    const { model, status } = setup((invoke) => async (cmd, args) => {
      if (cmd === 'set_desktop_prefs') throw { code: 'settings', message: 'Homeline could not change the login items: denied.' };
      if (cmd === 'list_audio_devices') throw { code: 'not_available', message: 'No sound devices: no sound system is installed.' };
      return invoke(cmd, args);
    });
    await model.load();
    expect(model.devicesError).toBe('No sound devices: no sound system is installed.');
    await model.set('startAtLogin', true);
    expect(model.prefs?.startAtLogin).toBe(false);
    expect(status.current).toEqual({ kind: 'error', text: 'Homeline could not change the login items: denied.' });
  });
});

describe('global shortcuts', () => {
  it('are saved trimmed, and a refusal keeps the old ones with the reason', async () => {
    const { model, status } = setup((invoke) => async (cmd, args) => {
      const keys = (args as { value?: { shortcuts?: { mute?: string } } }).value?.shortcuts;
      if (cmd === 'set_desktop_prefs' && keys?.mute === 'M') throw { code: 'settings', message: '“M” needs Ctrl, Alt, Shift or Super with it.' };
      return invoke(cmd, args);
    });
    await model.load();
    expect(await model.setShortcuts({ answer: ' Ctrl+Alt+A ', hangUp: '', mute: '' })).toBe(true);
    expect(model.prefs?.shortcuts).toEqual({ answer: 'Ctrl+Alt+A', hangUp: '', mute: '' });
    expect(status.current?.text).toBe('Shortcuts saved: they work from any application.');
    expect(await model.setShortcuts({ answer: 'Ctrl+Alt+A', hangUp: '', mute: 'M' })).toBe(false);
    expect(model.prefs?.shortcuts.mute).toBe('');
    expect(status.current?.text).toMatch(/needs Ctrl/);
    expect(await model.setShortcuts({ answer: '', hangUp: '', mute: '' })).toBe(true);
    expect(status.current?.text).toBe('Global shortcuts are off.');
  });
});

describe('voice processing switches', () => {
  it('load, turn and come back when refused; hidden when the app has no such command', async () => {
    const { model } = setup();
    await model.load();
    expect(model.processing).toEqual({ echoCancellation: true, noiseSuppression: true, autoGain: true });
    await model.setProcessing('noiseSuppression', false);
    expect(model.processing?.noiseSuppression).toBe(false);
    const refused = setup((invoke) => async (cmd, args) => {
      if (cmd === 'set_audio_processing') throw { code: 'settings', message: 'Your settings were not saved.' };
      return invoke(cmd, args);
    });
    await refused.model.load();
    await refused.model.setProcessing('autoGain', false);
    expect(refused.model.processing?.autoGain).toBe(true);
    expect(refused.status.current?.text).toBe('Your settings were not saved.');
    const old = setup((invoke) => async (cmd, args) => {
      if (cmd === 'get_audio_processing') throw 'command get_audio_processing not found';
      return invoke(cmd, args);
    });
    await old.model.load();
    expect(old.model.processing).toBeNull();
  });
});

describe('network settings', () => {
  it('saves an account\'s STUN/TURN (trimmed, empty left out), refuses bad ones in words, and checks', async () => {
    const stub = createBackendStub({ accounts: [{ address: 'alice@pbx.example.com' }] });
    const backend = createBackend(stub.invoke, stub.listen, 'stub');
    const status = new StatusLine();
    const model = new PrefsModel(backend, status);
    const id = 'alice@pbx.example.com';
    expect(await model.saveNetwork(id, { stun: 'stun.example.com' }, '')).toBe(false);
    expect(status.current?.text).toBe('A STUN server looks like stun:stun.example.com:3478.');
    expect(await model.saveNetwork(id, { stun: ' stun:stun.example.com ', turn: 'turn:turn.example.com', turnUser: 'alice' }, 'pw')).toBe(true);
    const [view] = await backend.listAccounts();
    expect(view?.network).toEqual({ stun: 'stun:stun.example.com', turn: 'turn:turn.example.com', turnUser: 'alice' });
    expect(view?.hasTurnPassword).toBe(true);
    await model.checkNetwork(id);
    expect(model.reportFor).toBe(id);
    expect(model.report?.findings.length).toBeGreaterThan(0);
  });
});

describe('preference replies', () => {
  it('are checked', () => {
    expect(() => parseDesktopPrefs('get_desktop_prefs', { startMinimised: 1 })).toThrow(/does not understand/);
    expect(() => parseDesktopPrefs('get_desktop_prefs', { startMinimised: true, startAtLogin: true, notifications: true })).toThrow(/does not understand/);
    // An older shell does not say whether the microphone was explained: it was not.
    const shortcuts = { answer: '', hangUp: '', mute: '' };
    expect(parseDesktopPrefs('get_desktop_prefs', { startMinimised: false, startAtLogin: false, notifications: true, shortcuts }).micExplained).toBe(false);
    expect(parseDesktopPrefs('get_desktop_prefs', { startMinimised: false, startAtLogin: false, notifications: true, shortcuts, micExplained: true }).micExplained).toBe(true);
    // An older shell does not say whether a clicked link is dialed at once: it was not.
    const older = { startMinimised: false, startAtLogin: false, notifications: true, shortcuts: { answer: '', hangUp: '', mute: '' } };
    expect(parseDesktopPrefs('get_desktop_prefs', older).askBeforeLinkCall).toBe(true);
    expect(parseDesktopPrefs('get_desktop_prefs', { ...older, askBeforeLinkCall: false }).askBeforeLinkCall).toBe(false);
    expect(parseAboutInfo({ version: '1', logFolder: null })).toEqual({ version: '1', logFolder: null, dataFolder: null });
    expect(() => parseAudioDevices({ host: 'alsa', inputs: [{ id: 1 }], outputs: [] })).toThrow();
    expect(parseAudioDevices({ host: 'alsa', inputs: [], outputs: [] }).host).toBe('alsa');
  });
});
