// Call quality, reconnecting and the local conference: the pure words and the
// model following the engine's events (the stub plays the engine).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBackend } from './backend';
import { STUB_POOR_WARNINGS, createBackendStub, stubOptionsFromQuery, stubStats } from './backend-stub';
import { parseCallEvent, qualityBars, qualityDetails, qualityLevel, qualitySummary, reconnectingWords } from './calls';
import { CallsModel } from './calls.svelte';
import { StatusLine } from './status.svelte';

describe('call quality in words', () => {
  it('grades the MOS as the engine warns: poor below 3.5, good from 4.0', () => {
    expect(qualityLevel({ mos: 4.4 })).toBe('good');
    expect(qualityLevel({ mos: 4.0 })).toBe('good');
    expect(qualityLevel({ mos: 3.7 })).toBe('fair');
    expect(qualityLevel({ mos: 3.5 })).toBe('fair');
    expect(qualityLevel({ mos: 3.49 })).toBe('poor');
    expect(qualityLevel({ mos: null })).toBe('unknown');
    expect(qualityLevel(null)).toBe('unknown');
    expect([qualityBars('good'), qualityBars('fair'), qualityBars('poor'), qualityBars('unknown')]).toEqual([3, 2, 1, 0]);
  });

  it('gives MOS, jitter, loss, round trip and codec', () => {
    const stats = stubStats('c1', 'poor', 10);
    expect(qualityDetails(stats)).toEqual(['MOS 3.1', 'Jitter 48 ms', 'Loss 6.0 %', 'Round trip 180 ms', 'Codec opus']);
    expect(qualitySummary(stats)).toBe('Call quality poor: MOS 3.1, Jitter 48 ms, Loss 6.0 %, Round trip 180 ms, Codec opus');
    expect(qualityDetails({ ...stats, jitterMs: null, rttMs: null, codec: null, lossPercent: 0 })).toEqual([
      'MOS 3.1',
      'Jitter —',
      'Loss 0 %',
      'Round trip —',
      'Codec —',
    ]);
    expect(qualitySummary({ ...stats, mos: null })).toBe('Call quality: measuring');
  });

  it('counts the seconds since the media path was lost', () => {
    expect(reconnectingWords(10_000, 10_400)).toBe('Reconnecting… 0 s');
    expect(reconnectingWords(10_000, 17_999)).toBe('Reconnecting… 7 s');
    expect(reconnectingWords(10_000, 9_000)).toBe('Reconnecting… 0 s');
  });
});

describe('quality events on the wire (events.rs, camelCase)', () => {
  it('reads callStats, callWarnings, callReconnecting and conferenceChanged', () => {
    const wire = { type: 'callStats', ...stubStats('c1', 'good', 3) };
    expect(parseCallEvent(wire)).toEqual({ type: 'callStats', stats: stubStats('c1', 'good', 3) });
    expect(parseCallEvent({ ...wire, jitterMs: null, rttMs: null, mos: null, codec: null })).toMatchObject({
      stats: { jitterMs: null, rttMs: null, mos: null, codec: null },
    });
    expect(parseCallEvent({ type: 'callWarnings', call: 'c1', warnings: STUB_POOR_WARNINGS })).toEqual({
      type: 'callWarnings',
      call: 'c1',
      warnings: STUB_POOR_WARNINGS,
    });
    expect(parseCallEvent({ type: 'callWarnings', call: 'c1', warnings: [] })).toEqual({ type: 'callWarnings', call: 'c1', warnings: [] });
    expect(parseCallEvent({ type: 'callReconnecting', call: 'c1', since: 1234 })).toEqual({ type: 'callReconnecting', call: 'c1', since: 1234 });
    expect(parseCallEvent({ type: 'callReconnecting', call: 'c1', since: null })).toEqual({ type: 'callReconnecting', call: 'c1', since: null });
    expect(parseCallEvent({ type: 'conferenceChanged', calls: ['a', 'b'] })).toEqual({ type: 'conferenceChanged', calls: ['a', 'b'] });
  });

  it('refuses malformed payloads instead of showing nonsense', () => {
    expect(parseCallEvent({ type: 'callStats', ...stubStats('c1', 'good', 3), lossPercent: 'lots' })).toBeNull();
    expect(parseCallEvent({ type: 'callStats', ...stubStats('c1', 'good', 3), mos: 'x' })).toBeNull();
    expect(parseCallEvent({ type: 'callWarnings', call: 'c1', warnings: [{ problem: 'gremlins', message: 'x' }] })).toBeNull();
    expect(parseCallEvent({ type: 'callReconnecting', call: 'c1', since: 'soon' })).toBeNull();
    expect(parseCallEvent({ type: 'conferenceChanged', calls: [1] })).toBeNull();
  });
});

describe('CallsModel: quality, reconnecting, conference', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-03-02T09:30:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function setup(query: string) {
    const stub = createBackendStub({ ...stubOptionsFromQuery(query), ringMs: 100, answerMs: 200 });
    const sent: string[] = [];
    const backend = createBackend((cmd, args) => (sent.push(cmd), stub.invoke(cmd, args)), stub.listen, 'stub');
    const status = new StatusLine();
    const calls = new CallsModel(backend, status);
    await calls.follow();
    await calls.load();
    return { stub, calls, status, sent };
  }

  it('shows the stats of each connected call and the warnings while they last', async () => {
    const { stub, calls } = await setup('?call=poor');
    const id = calls.current!.call;
    expect(calls.stats[id]).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1000);
    expect(qualityLevel(calls.stats[id])).toBe('poor');
    expect(calls.warnings[id]?.map((w) => w.problem)).toEqual(['loss', 'jitter']);
    // The network calms down: the engine sends an empty list.
    stub.emit('engine', { type: 'callWarnings', call: id, warnings: [] });
    expect(calls.warnings[id]).toBeUndefined();
    // Events about calls the window does not know are ignored.
    stub.emit('engine', { type: 'callStats', ...stubStats('nobody', 'good', 1) });
    expect(calls.stats.nobody).toBeUndefined();
    stub.remoteEnd(id);
    expect(calls.stats[id]).toBeUndefined();
  });

  it('counts "Reconnecting…" up every second and stops when the audio is back', async () => {
    const { stub, calls } = await setup('?call=reconnecting');
    const id = calls.current!.call;
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.reconnectingFor(id)).toBe(6); // lost 5 s before it connected, 1 s ago
    await vi.advanceTimersByTimeAsync(3000);
    expect(calls.reconnectingFor(id)).toBe(9);
    stub.emit('engine', { type: 'callReconnecting', call: id, since: null });
    expect(calls.reconnectingFor(id)).toBeNull();
  });

  it('"Add call" shows the dialer and keeps the call; dialing holds it; Merge and Split follow the engine', async () => {
    const { stub, calls, sent } = await setup('?call=active');
    const first = calls.current!.call;
    expect(calls.canMerge).toBe(false);
    calls.addCall();
    expect(calls.screen).toBeNull(); // the dialer
    expect(calls.find(first)?.state).toBe('active');
    calls.backToCall();
    expect(calls.screen).toBe('call');
    calls.addCall();

    const second = (await stub.invoke('dial', { target: 'bob' })) as string;
    calls.dialed(second, 'bob');
    expect(calls.screen).toBe('call');
    expect(calls.current?.call).toBe(second);
    expect(calls.find(first)).toMatchObject({ state: 'held', by_me: true });
    await vi.advanceTimersByTimeAsync(300);
    expect(calls.find(second)?.state).toBe('active');

    expect(calls.canMerge).toBe(true);
    expect(await calls.merge()).toBe(true);
    expect(sent).toContain('merge_calls');
    expect([...calls.conference].sort()).toEqual([first, second].sort());
    expect(calls.find(first)?.state).toBe('active');
    expect(calls.canMerge).toBe(false);

    expect(await calls.split(first)).toBe(true);
    expect(calls.conference).toEqual([]); // a conference of one ends
    expect(calls.find(first)).toMatchObject({ state: 'held', by_me: true });
    expect(calls.canMerge).toBe(true);
  });

  it('shows the engine\'s sentence when a merge is refused, and offers Merge only with two connected calls', async () => {
    const { stub, calls, status } = await setup('?call=two');
    expect(calls.canMerge).toBe(true);
    const refusing = createBackend(
      (cmd, args) => (cmd === 'merge_calls' ? Promise.reject({ code: 'call_failed', message: 'The other call is still ringing.' }) : stub.invoke(cmd, args)),
      stub.listen,
      'stub',
    );
    const model = new CallsModel(refusing, status);
    await model.load();
    expect(await model.merge()).toBe(false);
    expect(status.current?.text).toBe('The other call is still ringing.');
    expect(model.conference).toEqual([]);
    stub.remoteEnd(calls.inCall[0]!.call);
    expect(calls.canMerge).toBe(false);
  });
});
