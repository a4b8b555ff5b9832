import { describe, expect, it } from 'vitest';
import { parseCallList, toCallView } from './backend';
import {
  durationWords,
  dtmfDigit,
  endedWords,
  formatDuration,
  initials,
  parseCallEvent,
  remoteDetail,
  remoteTitle,
  stateWords,
} from './calls';
import type { CallView } from './types';

const base = { call: 'c1@x', account: 'alice@pbx', remote: 'bob', remoteName: 'Bob Stone', outgoing: false };

describe('call views on the wire', () => {
  it('reads the flattened, snake_case state fields (telephony.rs CallState)', () => {
    expect(toCallView({ ...base, state: 'held', by_me: false })).toEqual({ ...base, state: 'held', by_me: false });
    expect(toCallView({ ...base, state: 'ended', reason: 'declined', code: 603, by: 'remote' })).toEqual({
      ...base,
      state: 'ended',
      reason: 'declined',
      code: 603,
      by: 'remote',
    });
    expect(toCallView({ ...base, state: 'ended', reason: 'hung up', code: null, by: 'local' })).toMatchObject({ code: null });
    expect(toCallView({ ...base, remoteName: null, state: 'early_media' })).toEqual({ ...base, remoteName: null, state: 'early_media' });
  });

  it('refuses what is not a call', () => {
    for (const bad of [
      null,
      { ...base, state: 'talking' },
      { ...base, state: 'held' },
      { ...base, call: '', state: 'active' },
      { ...base, outgoing: 'yes', state: 'active' },
      { ...base, remote_name: 'x', remoteName: 3, state: 'active' },
    ]) {
      expect(toCallView(bad), JSON.stringify(bad)).toBeNull();
    }
    expect(() => parseCallList([{ ...base, state: 'nope' }])).toThrow();
    expect(() => parseCallList({})).toThrow();
    expect(parseCallList([{ ...base, state: 'active' }])).toHaveLength(1);
  });

  it('parses the call events (missedCall keeps its snake_case from_name)', () => {
    expect(parseCallEvent({ type: 'callChanged', ...base, state: 'incoming' })).toEqual({
      type: 'callChanged',
      view: { ...base, state: 'incoming' },
    });
    expect(parseCallEvent({ type: 'dtmfReceived', call: 'c1', digit: '5' })).toEqual({ type: 'dtmfReceived', call: 'c1', digit: '5' });
    expect(parseCallEvent({ type: 'missedCall', account: 'a@b', from: 'bob', from_name: 'Bob', reason: 'do not disturb' })).toEqual({
      type: 'missedCall',
      account: 'a@b',
      from: 'bob',
      fromName: 'Bob',
      reason: 'do not disturb',
    });
    expect(parseCallEvent({ type: 'transferProgress', call: 'c1', code: 200, reason: 'OK', done: true })).toMatchObject({ done: true });
    expect(parseCallEvent({ type: 'registrationChanged', account: 'a', state: 'registering' })).toBeNull();
    expect(parseCallEvent({ type: 'callChanged', state: 'active' })).toBeNull();
  });
});

describe('calls in words', () => {
  const view = (state: Partial<CallView> & { state: CallView['state'] }) => ({ ...base, ...state }) as CallView;

  it('says where the call stands', () => {
    expect(stateWords(view({ state: 'dialing' }))).toBe('Calling…');
    expect(stateWords(view({ state: 'ringing' }))).toBe('Ringing…');
    expect(stateWords(view({ state: 'active' }))).toBe('Connected');
    expect(stateWords(view({ state: 'held', by_me: true }))).toBe('On hold');
    expect(stateWords(view({ state: 'held', by_me: false }))).toBe('They put you on hold');
  });

  it('says why the call ended, and who hung up', () => {
    expect(endedWords(view({ state: 'ended', reason: 'declined', code: 603, by: 'remote' }))).toBe('Call ended — declined');
    expect(endedWords(view({ state: 'ended', reason: 'hung up', code: null, by: 'local' }))).toBe('Call ended — you hung up');
    expect(endedWords(view({ state: 'ended', reason: 'hung up', code: null, by: 'remote' }))).toBe('Call ended — they hung up');
    expect(endedWords(view({ state: 'ended', reason: 'The line dropped.', code: null, by: 'network' }))).toBe(
      'Call ended — The line dropped',
    );
    expect(endedWords(view({ state: 'ended', reason: ' ', code: null, by: 'network' }))).toBe('Call ended');
  });

  it('names the other side', () => {
    expect(remoteTitle(base)).toBe('Bob Stone');
    expect(remoteDetail(base)).toBe('bob');
    expect(remoteTitle({ remote: '+4930123', remoteName: null })).toBe('+4930123');
    expect(remoteDetail({ remote: '+4930123', remoteName: '  ' })).toBeNull();
    expect(initials(base)).toBe('BS');
    expect(initials({ remote: 'carol.diaz@pbx', remoteName: null })).toBe('CD');
    expect(initials({ remote: '+4930123', remoteName: null })).toBe('');
    expect(initials({ remote: 'x', remoteName: 'émile' })).toBe('É');
  });

  it('formats the timer', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(7.9)).toBe('0:07');
    expect(formatDuration(754)).toBe('12:34');
    expect(formatDuration(3723)).toBe('1:02:03');
    expect(durationWords(65)).toBe('1 minute 5 seconds');
    expect(durationWords(3600)).toBe('1 hour 0 minutes 0 seconds');
  });

  it('knows the touch-tone keys', () => {
    expect(['0', '9', '*', '#'].map(dtmfDigit)).toEqual(['0', '9', '*', '#']);
    expect(['a', 'Enter', '12', '+'].map(dtmfDigit)).toEqual([null, null, null, null]);
  });
});
