import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ROLES,
  checkRingtone,
  choose,
  defaultLabel,
  callEvent,
  deviceName,
  endedCall,
  levelWords,
  meterReadings,
  meterFraction,
  normalise,
  parseAudioLevels,
  parseMicrophoneLevel,
  parseMicrophoneMeter,
  preferenceRows,
  preferenceWords,
} from './audio-settings';
import { AudioSettingsModel, LEVELS_STALE_MS } from './audio-settings.svelte';
import { createBackend, parseAudioChoice } from './backend';
import { STUB_LEVELS, STUB_MIC_LEVEL, createBackendStub, type StubOptions } from './backend-stub';
import { StatusLine } from './status.svelte';
import type { AudioDevice, InvokeFn } from './types';

const mics: AudioDevice[] = [
  { id: 'pulse:mic', name: 'Built-in Microphone', isDefault: true },
  { id: 'pulse:headset', name: 'USB Headset', isDefault: false },
  { id: 'pulse:cam', name: 'Webcam', isDefault: false },
];
const [input] = ROLES;

describe('preference rows', () => {
  it('start with "System default" (naming the current default) and offer one more row to fall back to', () => {
    const rows = preferenceRows(input!, [], mics);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value).toBe('default');
    expect(rows[0]!.options.map((o) => o.label)).toEqual(['System default (Built-in Microphone)', 'Built-in Microphone', 'USB Headset', 'Webcam']);
    expect(rows[0]!.label).toBe('Microphone');

    const two = preferenceRows(input!, ['pulse:headset'], mics);
    expect(two.map((r) => r.value)).toEqual(['pulse:headset', 'default']);
    expect(two[1]!.label).toBe('then');
    expect(two[1]!.ariaLabel).toBe('Then: microphone choice 2, used when the one above is missing');
    // A lower row does not offer what is chosen above it.
    expect(two[1]!.options.map((o) => o.value)).toEqual(['default', 'pulse:mic', 'pulse:cam']);
  });

  it('show a preferred device that is unplugged now, and stop adding rows when every device is listed', () => {
    const rows = preferenceRows(input!, ['usb:jabra', 'pulse:mic', 'pulse:headset', 'pulse:cam'], mics);
    expect(rows.map((r) => r.value)).toEqual(['usb:jabra', 'pulse:mic', 'pulse:headset', 'pulse:cam']);
    expect(rows[0]!.options.at(-1)).toEqual({ value: 'usb:jabra', label: 'usb:jabra (not connected)' });
    expect(preferenceWords(['usb:jabra', 'pulse:headset'], mics)).toBe('usb:jabra (not connected), then USB Headset, then System default');
    expect(preferenceWords([], [])).toBe('System default');
    expect(defaultLabel([])).toBe('System default');
  });

  it('a machine with no device still offers "System default"', () => {
    const rows = preferenceRows(input!, [], []);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.options).toEqual([{ value: 'default', label: 'System default' }]);
  });
});

describe('choosing', () => {
  it('puts a device in a row, drops it from lower rows, and "System default" ends the list there', () => {
    expect(choose([], 0, 'pulse:headset')).toEqual(['pulse:headset']);
    expect(choose(['pulse:headset'], 1, 'pulse:mic')).toEqual(['pulse:headset', 'pulse:mic']);
    expect(choose(['pulse:headset', 'pulse:mic'], 0, 'pulse:mic')).toEqual(['pulse:mic']);
    expect(choose(['pulse:headset', 'pulse:mic', 'pulse:cam'], 1, 'default')).toEqual(['pulse:headset']);
    expect(choose(['pulse:headset', 'pulse:mic'], 0, 'default')).toEqual([]);
    expect(choose(['a', 'b', 'c'], 1, 'c')).toEqual(['a', 'c']);
  });

  it('normalises as the engine does: trimmed, no repeats, cut at "default" and at 8', () => {
    expect(normalise([' a ', 'a', '', 'b', 'default', 'c'])).toEqual(['a', 'b']);
    expect(normalise(['1', '2', '3', '4', '5', '6', '7', '8', '9'])).toHaveLength(8);
  });
});

describe('ringtone and meters', () => {
  it('checks a typed path before asking the engine', () => {
    expect(checkRingtone('  ')).toEqual({ path: null });
    expect(checkRingtone(' /home/a/ring.wav ')).toEqual({ path: '/home/a/ring.wav' });
    expect(checkRingtone('ring.wav')).toEqual({ error: 'Type the full path of the WAV file (starting with /).' });
    expect(checkRingtone('/a\nb.wav')).toEqual({ error: 'That is not a file path: type the full path of a WAV file.' });
  });

  it('maps dBFS onto the meter and into words', () => {
    expect(meterFraction(0)).toBe(1);
    expect(meterFraction(-30)).toBe(0.5);
    expect(meterFraction(-100)).toBe(0);
    expect(meterFraction(Number.NaN)).toBe(0);
    expect(meterFraction(6)).toBe(1);
    expect(levelWords(-100)).toBe('silent');
    expect(levelWords(-18.4)).toBe('−18 dB');
  });

  it('reads audioLevels events and refuses malformed ones', () => {
    expect(parseAudioLevels({ type: 'audioLevels', call: 'c1', ...STUB_LEVELS })).toEqual({ call: 'c1', ...STUB_LEVELS });
    expect(parseAudioLevels({ type: 'audioLevels', call: 'c1', input: { rmsDbfs: -3 }, output: STUB_LEVELS.output })).toBeNull();
    expect(parseAudioLevels({ type: 'callStats', call: 'c1' })).toBeNull();
    expect(parseAudioLevels(null)).toBeNull();
    expect(endedCall({ type: 'callChanged', call: 'c1', state: 'ended' })).toBe('c1');
    expect(endedCall({ type: 'callChanged', call: 'c1', state: 'active' })).toBeNull();
  });

  it('parses the audio choice reply (missing lists are empty, a bad one is refused)', () => {
    expect(parseAudioChoice('get_audio_choice', { input: ['a'], ringtone: null })).toEqual({ input: ['a'], output: [], ringer: [], ringtone: null });
    expect(() => parseAudioChoice('get_audio_choice', { input: [1] })).toThrow(/does not understand/);
    expect(() => parseAudioChoice('get_audio_choice', null)).toThrow();
  });
});

function setup(wrap: (invoke: InvokeFn) => InvokeFn = (i) => i, options: StubOptions = {}) {
  const stub = createBackendStub(options);
  const backend = createBackend(wrap(stub.invoke), stub.listen, 'stub');
  const status = new StatusLine();
  return { model: new AudioSettingsModel(backend, status), status, stub };
}

describe('the settings microphone meter events', () => {
  it('are checked: a reading, the opening and the closing with its reason; anything else is null', () => {
    const input = { rmsDbfs: -30, peakDbfs: -12 };
    expect(parseMicrophoneLevel({ type: 'microphoneLevel', device: 'pulse:mic', input })).toEqual({ device: 'pulse:mic', input });
    expect(parseMicrophoneLevel({ type: 'microphoneLevel', device: 'pulse:mic', input: { rmsDbfs: '-3' } })).toBeNull();
    expect(parseMicrophoneLevel({ type: 'audioLevels', call: 'c', input, output: input })).toBeNull();
    expect(parseMicrophoneMeter({ type: 'microphoneMeter', open: true, device: 'pulse:mic', reason: null })).toEqual({ open: true, device: 'pulse:mic', reason: null });
    expect(parseMicrophoneMeter({ type: 'microphoneMeter', open: false, device: 'pulse:mic', reason: 'A call has the microphone now.' })?.reason).toBe('A call has the microphone now.');
    expect(parseMicrophoneMeter({ type: 'microphoneMeter', open: 'yes' })).toBeNull();
    expect(parseMicrophoneMeter(null)).toBeNull();
    expect(callEvent({ type: 'callChanged', call: 'c', state: 'ringing' })).toBe('live');
    expect(callEvent({ type: 'callChanged', call: 'c', state: 'ended' })).toBe('ended');
    expect(callEvent({ type: 'historyChanged' })).toBeNull();
  });

  it('feed the microphone meter outside a call; a call\'s levels come first', () => {
    const mic = { rmsDbfs: -40, peakDbfs: -30 };
    expect(meterReadings(null, mic)).toEqual({ input: mic, output: null });
    expect(meterReadings(null, null)).toEqual({ input: null, output: null });
    expect(meterReadings({ call: 'c', ...STUB_LEVELS }, mic)).toEqual(STUB_LEVELS);
    expect(deviceName({ host: 'pulseaudio', inputs: mics, outputs: [] }, 'pulse:headset')).toBe('USB Headset');
    expect(deviceName(null, 'pulse:gone')).toBe('pulse:gone');
  });
});

describe('AudioSettingsModel', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('saves each role as chosen, and the ringtone; a refused ringtone is told in words', async () => {
    const { model, status } = setup();
    await model.load();
    expect(model.choice).toEqual({ input: [], output: [], ringer: [], ringtone: null });
    expect(await model.choose('input', 0, 'pulse:headset')).toBe(true);
    expect(await model.choose('input', 1, 'pulse:mic')).toBe(true);
    expect(await model.choose('ringer', 0, 'pulse:speakers')).toBe(true);
    await model.load();
    expect(model.choice).toEqual({ input: ['pulse:headset', 'pulse:mic'], output: [], ringer: ['pulse:speakers'], ringtone: null });

    expect(await model.setRingtone('/home/alice/missing.wav')).toBe(false);
    expect(model.ringtoneError).toMatch(/could not be opened: .*No such file/);
    expect(model.choice?.ringtone).toBeNull();
    expect(await model.setRingtone('relative.wav')).toBe(false);
    expect(model.ringtoneError).toBe('Type the full path of the WAV file (starting with /).');
    expect(await model.setRingtone('/home/alice/ring.wav')).toBe(true);
    expect(model.ringtoneError).toBeNull();
    expect(model.choice?.ringtone).toBe('/home/alice/ring.wav');
    expect(status.current?.text).toBe('Incoming calls ring with this file.');
    expect(await model.setRingtone('')).toBe(true);
    expect(model.choice?.ringtone).toBeNull();
  });

  it('saves the file chosen in the file dialog, keeps the ringtone when the dialog is cancelled, and tells a refused file', async () => {
    const chosen = setup(undefined, { chosenRingtone: '/home/alice/Music/office-ring.wav' });
    await chosen.model.load();
    expect(await chosen.model.chooseRingtone()).toBe('/home/alice/Music/office-ring.wav');
    expect(chosen.model.choice?.ringtone).toBe('/home/alice/Music/office-ring.wav');
    expect(chosen.status.current?.text).toBe('Incoming calls ring with this file.');

    const cancelled = setup(undefined, { chosenRingtone: null });
    await cancelled.model.load();
    expect(await cancelled.model.chooseRingtone()).toBeNull();
    expect(cancelled.model.choice?.ringtone).toBeNull();
    expect(cancelled.model.ringtoneError).toBeNull();

    const unplayable = setup(undefined, { chosenRingtone: '/home/alice/Music/song.mp3' });
    await unplayable.model.load();
    await unplayable.model.chooseRingtone();
    expect(unplayable.model.ringtoneError).toMatch(/format we cannot read/);
    expect(unplayable.model.choice?.ringtone).toBeNull();

    const noDialog = setup((invoke) => (cmd, args) => (cmd === 'choose_ringtone' ? Promise.reject({ code: 'not_available', message: 'No file dialog here.' }) : invoke(cmd, args)));
    await noDialog.model.load();
    expect(await noDialog.model.chooseRingtone()).toBeNull();
    expect(noDialog.model.ringtoneError).toBe('No file dialog here.');
  });

  it('puts a refused device choice back and says why; an older shell hides the selects', async () => {
    const { model, status } = setup((invoke) => async (cmd, args) => {
      if (cmd === 'set_audio_device') throw { code: 'settings', message: 'That is not a device id: choose the device from the list.' };
      return invoke(cmd, args);
    });
    await model.load();
    expect(await model.choose('output', 0, 'pulse:speakers')).toBe(false);
    expect(model.choice?.output).toEqual([]);
    expect(status.current).toEqual({ kind: 'error', text: 'That is not a device id: choose the device from the list.' });

    const old = setup((invoke) => async (cmd, args) => {
      if (cmd === 'get_audio_choice') throw 'command get_audio_choice not found';
      return invoke(cmd, args);
    });
    await old.model.load();
    expect(old.model.choice).toBeNull();
  });

  it('follows the meters of a call, and stops them when it ends or goes quiet', async () => {
    vi.useFakeTimers();
    const { model, stub } = setup();
    const stop = await model.follow();
    stub.emit('engine', { type: 'audioLevels', call: 'c1', ...STUB_LEVELS });
    expect(model.levels?.input.rmsDbfs).toBe(-21);
    stub.emit('engine', { type: 'callChanged', call: 'c2', state: 'ended' });
    expect(model.levels).not.toBeNull();
    stub.emit('engine', { type: 'callChanged', call: 'c1', state: 'ended' });
    expect(model.levels).toBeNull();
    stub.emit('engine', { type: 'audioLevels', call: 'c1', ...STUB_LEVELS });
    vi.advanceTimersByTime(LEVELS_STALE_MS + 1);
    expect(model.levels).toBeNull();
    stop();
    stub.emit('engine', { type: 'audioLevels', call: 'c1', ...STUB_LEVELS });
    expect(model.levels).toBeNull();
  });

  it('has the app send the calls\' levels only while the meters are followed', async () => {
    const asked: unknown[] = [];
    const { model } = setup((invoke) => async (cmd, args) => {
      if (cmd === 'follow_audio_levels') asked.push(args);
      return invoke(cmd, args);
    });
    const stop = await model.follow();
    expect(asked).toEqual([{ on: true }]);
    stop();
    await vi.waitFor(() => expect(asked).toEqual([{ on: true }, { on: false }]));
  });

  it('opens the microphone for the meter while the section is shown, and closes it when it goes', async () => {
    const { model, stub } = setup();
    const stop = await model.follow();
    await model.openMeter();
    expect(model.micOpen).toBe('pulse:mic');
    await new Promise((r) => setTimeout(r, 0));
    expect(model.micLevel).toEqual(STUB_MIC_LEVEL);
    // A second open (a re-render) does not ask again.
    await model.openMeter();
    await model.closeMeter();
    expect(model.micOpen).toBeNull();
    expect(model.micLevel).toBeNull();
    // Closed: readings that were on their way are not shown.
    stub.emit('engine', { type: 'microphoneLevel', device: 'pulse:mic', input: STUB_MIC_LEVEL });
    expect(model.micLevel).toBeNull();
    expect(await stub.invoke('stop_mic_meter', {})).toBe(false);
    stop();
  });

  it('gives the microphone up to a call, says so, and takes it back when the call ends', async () => {
    const { model, stub } = setup();
    const stop = await model.follow();
    await model.openMeter();
    const call = stub.ringIn('bob@pbx.example.com', 'Bob Stone');
    expect(model.micOpen).toBeNull();
    expect(model.micNote).toBe('A call has the microphone now.');
    // Opened again during the call (a re-render): refused in words.
    await model.openMeter();
    expect(model.micOpen).toBeNull();
    expect(model.micNote).toMatch(/A call has the microphone/);
    stub.remoteEnd(call);
    await vi.waitFor(() => expect(model.micOpen).toBe('pulse:mic'));
    expect(model.micNote).toBeNull();
    await model.closeMeter();
    stop();
  });

  it('closes again a microphone that opened after the section went', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { model, stub } = setup((invoke) => async (cmd, args) => {
      if (cmd === 'start_mic_meter') await gate;
      return invoke(cmd, args);
    });
    const opening = model.openMeter();
    await model.closeMeter();
    release();
    await opening;
    expect(model.micOpen).toBeNull();
    expect(await stub.invoke('stop_mic_meter', {})).toBe(false);
  });
});
