import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBackend, parseHistoryList, toHistoryEntry } from './backend';
import { createBackendStub, stubDemoHistory, stubOptionsFromQuery, type StubOptions } from './backend-stub';
import { CallsModel } from './calls.svelte';
import { DialerModel } from './dialer.svelte';
import { durationOrReason, historyKind, historyTime } from './history';
import { HistoryModel } from './history.svelte';
import { StatusLine } from './status.svelte';
import type { HistoryEntry } from './types';

async function setup(options: StubOptions = {}) {
  const stub = createBackendStub({ accountsConfigured: true, ringMs: 100, answerMs: 200, ...options });
  const backend = createBackend(stub.invoke, stub.listen, 'stub');
  const status = new StatusLine();
  const calls = new CallsModel(backend, status);
  const dialed: string[] = [];
  const history = new HistoryModel(backend, status, {
    onDialed: (id, target) => {
      dialed.push(target);
      calls.dialed(id, target);
    },
  });
  const dialer = new DialerModel(backend, status, { onDialed: (id, target) => calls.dialed(id, target) });
  await calls.follow();
  await history.follow();
  return { stub, backend, status, calls, history, dialer, dialed };
}

const wait = (ms: number) => vi.advanceTimersByTimeAsync(ms);

const entry = (over: Partial<HistoryEntry> = {}): HistoryEntry => ({
  id: 1,
  callId: 'c1',
  account: 'alice@pbx.example.com',
  remote: '+4930123456',
  remoteName: null,
  direction: 'out',
  startedAt: 1_000,
  connectedAt: 5_000,
  endedAt: 68_000,
  endReason: 'hung up',
  endCode: null,
  missed: false,
  ...over,
});

describe('history words', () => {
  it('shows talk time for connected calls and the reason otherwise', () => {
    expect(durationOrReason(entry())).toBe('1:03');
    expect(durationOrReason(entry({ connectedAt: null, endReason: 'busy', endCode: 486 }))).toBe('busy');
    expect(durationOrReason(entry({ connectedAt: null, endReason: '', direction: 'in', missed: true }))).toBe('missed');
  });

  it('tells missed, incoming and outgoing apart', () => {
    expect(historyKind(entry())).toBe('outgoing');
    expect(historyKind(entry({ direction: 'in' }))).toBe('incoming');
    expect(historyKind(entry({ direction: 'in', connectedAt: null, missed: true }))).toBe('missed');
  });

  it('formats times relative to today', () => {
    const now = new Date(2026, 10, 25, 16, 30).getTime();
    expect(historyTime(new Date(2026, 10, 25, 9, 5).getTime(), now)).toBe('09:05');
    expect(historyTime(new Date(2026, 10, 24, 23, 59).getTime(), now)).toBe('Yesterday 23:59');
    expect(historyTime(new Date(2026, 2, 3, 14, 0).getTime(), now)).toBe('3 Mar 14:00');
    expect(historyTime(new Date(2025, 2, 3, 14, 0).getTime(), now)).toBe('3 Mar 2025 14:00');
  });

  it('checks rows from the engine', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(toHistoryEntry(entry())).toEqual(entry());
    expect(toHistoryEntry({ ...entry(), direction: 'sideways' })).toBeNull();
    expect(() => parseHistoryList({})).toThrow();
    expect(() => parseHistoryList([{ id: 1 }])).toThrow();
  });
});

describe('HistoryModel with the stub', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes ended calls, filters them and searches by name or number', async () => {
    const { stub, history, dialer } = await setup();
    for (const key of '2001') await dialer.press(key);
    await dialer.call();
    await wait(400);
    const [out] = stub.calls;
    stub.remoteEnd(out!.call);
    const incoming = stub.ringIn('bob@pbx.example.com', 'Bob Stone');
    await wait(10);
    stub.remoteEnd(incoming, 'cancelled', 487);
    await wait(10);

    await history.load();
    expect(history.entries.map((e) => [e.remote, historyKind(e)])).toEqual([
      ['bob@pbx.example.com', 'missed'],
      ['2001', 'outgoing'],
    ]);
    expect(history.entries[1]!.connectedAt).not.toBeNull();

    await history.setFilter('missed');
    expect(history.entries.map((e) => e.remoteName)).toEqual(['Bob Stone']);
    await history.setFilter('outgoing');
    expect(history.entries.map((e) => e.remote)).toEqual(['2001']);
    await history.setFilter('incoming');
    expect(history.entries).toEqual([]);

    await history.setFilter('all');
    await history.setSearch('bob');
    expect(history.entries.map((e) => e.remote)).toEqual(['bob@pbx.example.com']);
    await history.setSearch('200');
    expect(history.entries.map((e) => e.remote)).toEqual(['2001']);
  });

  it('reloads on historyChanged, deletes rows and calls back', async () => {
    const { stub, history, calls, dialed } = await setup({ history: stubDemoHistory(Date.now()) });
    await history.load();
    expect(history.entries).toHaveLength(4);
    const missed = history.entries.find((e) => e.missed)!;
    await history.remove(missed.id);
    await wait(0);
    expect(history.entries).toHaveLength(3);

    const id = await history.callBack(history.entries[0]!);
    expect(id).not.toBeNull();
    expect(dialed).toEqual(['+4930123456']);
    expect(calls.screen).toBe('call');
    stub.remoteEnd(id!);
    await wait(0);
    expect(history.entries).toHaveLength(4);
  });

  it('preview option ?history=demo seeds the history', () => {
    expect(stubOptionsFromQuery('?history=demo').history).toHaveLength(4);
  });
});
