import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBackend } from './backend';
import { createBackendStub, stubOptionsFromQuery, type StubOptions } from './backend-stub';
import { stateWords, endedWords } from './calls';
import { CallsModel } from './calls.svelte';
import { DialerModel } from './dialer.svelte';
import { StatusLine } from './status.svelte';
import type { InvokeFn } from './types';

/** Stub backend with one account, quick call progress, and an observable transport. */
async function setup(options: StubOptions = {}, override: Record<string, InvokeFn> = {}) {
  const stub = createBackendStub({ accountsConfigured: true, ringMs: 100, answerMs: 200, ...options });
  const sent: Array<[string, Record<string, unknown>]> = [];
  const invoke: InvokeFn = (cmd, args) => {
    sent.push([cmd, args]);
    return (override[cmd] ?? stub.invoke)(cmd, args);
  };
  const backend = createBackend(invoke, stub.listen, 'stub');
  const status = new StatusLine();
  const calls = new CallsModel(backend, status);
  const dialer = new DialerModel(backend, status, { onDialed: (id, target) => calls.dialed(id, target) });
  await calls.follow();
  await dialer.follow();
  const commands = () => sent.map(([cmd]) => cmd).filter((c) => !c.startsWith('dialer_'));
  return { stub, sent, commands, status, calls, dialer };
}

const wait = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('CallsModel', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('follows a dialed call from Calling… to Connected, with a timer, and back to the dialer after it ends', async () => {
    const { calls, dialer, stub, sent } = await setup();
    for (const key of 'bob') await dialer.press(key);
    const id = await dialer.call();
    expect(id).toMatch(/^stub-call-/);
    expect(sent.find(([cmd]) => cmd === 'dial')).toEqual(['dial', { target: 'bob' }]);
    await dialer.settled();
    expect(dialer.text).toBe(''); // the display is cleared once the call is placed

    expect(calls.screen).toBe('call');
    expect(calls.current?.call).toBe(id);
    expect(stateWords(calls.current!)).toBe('Calling…');
    expect(calls.elapsed(id!)).toBeNull();

    await wait(100);
    expect(stateWords(calls.current!)).toBe('Ringing…');
    await wait(200);
    expect(stateWords(calls.current!)).toBe('Connected');
    expect(calls.elapsed(id!)).toBe(0);
    await wait(3000);
    expect(calls.elapsed(id!)).toBe(3);

    expect(await calls.hangup(id!)).toBe(true);
    await wait(50);
    expect(stub.calls).toEqual([]);
    expect(calls.screen).toBe('ended');
    expect(endedWords(calls.ended!)).toBe('Call ended — you hung up');
    await wait(1900);
    expect(calls.screen).toBe('ended');
    await wait(200);
    expect(calls.screen).toBeNull();
    expect(calls.calls).toEqual([]);
  });

  it('restores the calls the engine has when the window opens (list_calls)', async () => {
    const { calls, commands } = await setup(stubOptionsFromQuery('?call=two'));
    expect(calls.screen).toBeNull();
    await calls.load();
    expect(commands()).toContain('list_calls');
    expect(calls.calls.map((c) => c.state)).toEqual(['held', 'active']);
    expect(calls.screen).toBe('call');
    expect(calls.current?.remoteName).toBe('Support line'); // the active one leads
    expect(calls.elapsed(calls.current!.call)).toBe(0);
    calls.select(calls.calls[0]!.call);
    expect(calls.current?.remoteName).toBe('Dana Weber');
  });

  it('does not let a late list bring back a call that already ended', async () => {
    let release: (v: unknown) => void = () => {};
    const { calls, stub } = await setup(stubOptionsFromQuery('?call=active'), {
      list_calls: () => new Promise((resolve) => (release = resolve)),
    });
    const [seeded] = stub.calls;
    const loading = calls.load();
    stub.remoteEnd(seeded!.call);
    release([{ ...seeded, state: 'active' }]);
    await loading;
    expect(calls.calls).toEqual([]);
  });

  it('shows an incoming call; Answer connects it', async () => {
    const { calls, stub, sent } = await setup();
    const id = stub.ringIn('bob@pbx.example.com', 'Bob Stone');
    expect(calls.screen).toBe('incoming');
    expect(calls.incoming?.remoteName).toBe('Bob Stone');
    expect(await calls.answer(id)).toBe(true);
    expect(sent.at(-1)).toEqual(['answer', { call: id }]);
    // Until the engine says "active", the answered call shows on the in-call screen.
    expect(calls.screen).toBe('call');
    expect(stateWords(calls.current!)).toBe('Incoming call');
    await wait(150);
    expect(stateWords(calls.current!)).toBe('Connected');
  });

  it('declines an incoming call and says so', async () => {
    const { calls, stub, sent } = await setup();
    const id = stub.ringIn('bob', null);
    expect(await calls.decline(id)).toBe(true);
    expect(sent.at(-1)).toEqual(['reject', { call: id, busy: false }]);
    await wait(50);
    expect(calls.screen).toBe('ended');
    expect(endedWords(calls.ended!)).toBe('Call ended — declined');
    await wait(2000);
    expect(calls.screen).toBeNull();
  });

  it('answer and hold current: holds the active call first, then answers', async () => {
    const { calls, stub, commands } = await setup(stubOptionsFromQuery('?call=active'));
    await calls.load();
    const [first] = calls.calls;
    const id = stub.ringIn('bob', 'Bob');
    expect(calls.screen).toBe('incoming');
    expect(calls.othersTalking(id).map((c) => c.call)).toEqual([first!.call]);
    expect(await calls.answerAndHold(id)).toBe(true);
    expect(commands().slice(-2)).toEqual(['hold', 'answer']);
    expect(calls.find(first!.call)).toMatchObject({ state: 'held', by_me: true });
    await wait(150);
    expect(calls.current?.call).toBe(id);
    expect(calls.inCall).toHaveLength(2);
  });

  it('holds and resumes; the other side holding is told apart', async () => {
    const { calls, stub, sent } = await setup(stubOptionsFromQuery('?call=active'));
    await calls.load();
    const id = calls.current!.call;
    await calls.toggleHold(id);
    expect(sent.at(-1)).toEqual(['hold', { call: id, on: true }]);
    expect(stateWords(calls.current!)).toBe('On hold');
    await calls.toggleHold(id);
    expect(sent.at(-1)).toEqual(['hold', { call: id, on: false }]);
    expect(stateWords(calls.current!)).toBe('Connected');
    stub.remoteHold(id, true);
    expect(stateWords(calls.current!)).toBe('They put you on hold');
    // Holding a call they hold: ours wins (we must resume it ourselves).
    await calls.toggleHold(id);
    expect(sent.at(-1)).toEqual(['hold', { call: id, on: true }]);
    expect(stateWords(calls.current!)).toBe('On hold');
  });

  it('mutes and unmutes; a failed mute is undone and explained', async () => {
    const failing: InvokeFn = () => Promise.reject({ code: 'call_failed', message: 'The microphone is gone.' });
    const ok = await setup(stubOptionsFromQuery('?call=active'));
    await ok.calls.load();
    const id = ok.calls.current!.call;
    await ok.calls.toggleMute(id);
    expect(ok.sent.at(-1)).toEqual(['mute', { call: id, on: true }]);
    expect(ok.calls.muted[id]).toBe(true);
    await ok.calls.toggleMute(id);
    expect(ok.sent.at(-1)).toEqual(['mute', { call: id, on: false }]);
    expect(ok.calls.muted[id]).toBe(false);

    const bad = await setup(stubOptionsFromQuery('?call=active'), { mute: failing });
    await bad.calls.load();
    const other = bad.calls.current!.call;
    expect(await bad.calls.toggleMute(other)).toBe(false);
    expect(bad.calls.muted[other]).toBe(false);
    expect(bad.status.current).toEqual({ kind: 'error', text: 'The microphone is gone.' });
  });

  it('sends touch tones one at a time, in order', async () => {
    // The engine answers at different speeds; the tones must still go out in order.
    let n = 0;
    const slow: InvokeFn = async (cmd, args) => {
      await new Promise((resolve) => setTimeout(resolve, [20, 1, 10, 0][n++ % 4]));
      return stubRef.invoke(cmd, args);
    };
    const { calls, stub } = await setup(stubOptionsFromQuery('?call=active'), { send_dtmf: (cmd, args) => slow(cmd, args) });
    const stubRef = stub;
    await calls.load();
    const id = calls.current!.call;
    const sending = ['1', '2', '#', '0'].map((d) => calls.sendDtmf(id, d));
    expect(calls.sentDigits[id]).toBe('12#0');
    await wait(100);
    await Promise.all(sending);
    expect(stub.digits[id]).toBe('12#0');
  });

  it('transfers blind, reports the progress and leaves the call when it went through', async () => {
    const { calls, status, sent } = await setup(stubOptionsFromQuery('?call=active'));
    await calls.load();
    const id = calls.current!.call;
    expect(await calls.transfer(id, '  ')).toBe(false);
    expect(await calls.transfer(id, ' +4930999 ')).toBe(true);
    expect(sent.at(-1)).toEqual(['transfer', { call: id, target: '+4930999' }]);
    await wait(800);
    expect(status.current?.kind).toBe('progress');
    await wait(800);
    expect(status.current).toEqual({ kind: 'info', text: 'Call transferred.' });
    expect(sent.at(-1)).toEqual(['hangup', { call: id }]);
    await wait(100);
    expect(calls.calls).toEqual([]);
  });

  it('a call ending in the background is told in the status line, the shown one stays', async () => {
    const { calls, stub, status } = await setup(stubOptionsFromQuery('?call=two'));
    await calls.load();
    const [held, active] = calls.calls;
    expect(calls.current?.call).toBe(active!.call);
    stub.remoteEnd(held!.call);
    expect(calls.screen).toBe('call');
    expect(calls.current?.call).toBe(active!.call);
    expect(status.current).toEqual({ kind: 'info', text: 'Dana Weber: call ended — they hung up.' });
  });

  it('a dialed call that fails at once still says why', async () => {
    const { calls, dialer } = await setup();
    for (const key of 'busy') await dialer.press(key);
    await dialer.call();
    await wait(100);
    expect(calls.screen).toBe('ended');
    expect(endedWords(calls.ended!)).toBe('Call ended — busy');
    // A late dial reply for an ended call does not bring it back.
    calls.dialed(calls.ended!.call, 'busy');
    expect(calls.calls).toEqual([]);
  });

  it('tells about missed calls', async () => {
    const { stub, status } = await setup();
    stub.emit('engine', { type: 'missedCall', account: 'a@b', from: 'bob', from_name: 'Bob Stone', reason: 'do not disturb' });
    expect(status.current).toEqual({ kind: 'info', text: 'Missed call from Bob Stone — do not disturb.' });
  });

  it('shows action errors in the status line', async () => {
    const { calls, status } = await setup();
    expect(await calls.hangup('nope')).toBe(false);
    expect(status.current).toEqual({ kind: 'error', text: 'There is no call nope.' });
  });
});
