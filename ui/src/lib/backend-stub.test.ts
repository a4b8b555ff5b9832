import { describe, expect, it, vi } from 'vitest';
import { STUB_MAX_LENGTH, createBackendStub, stubCanCall, stubClean, stubOptionsFromQuery, stubPress } from './backend-stub';

const typed = (keys: string) => Array.from(keys).reduce(stubPress, '');

describe('stub dialer rules (mirroring crates/phone/src/dialer.rs)', () => {
  it('keeps typed digits, star, hash and letters', () => {
    expect(typed('12*0#')).toBe('12*0#');
    expect(typed('sales')).toBe('sales');
    expect(typed('alice@pbx.example')).toBe('alice@pbx.example');
  });

  it('keeps + only at the start and address punctuation only after something', () => {
    expect(typed('+49+30')).toBe('+4930');
    expect(typed('@.-9')).toBe('9');
  });

  it('ignores multi-character keys and other characters', () => {
    expect(stubPress('1', '23')).toBe('1');
    expect(typed('1 (2) é€!')).toBe('12');
  });

  it('cleans pasted phone numbers: separators dropped, vanity letters → digits', () => {
    expect(stubClean(' +49 (30) 123-456.78 ')).toBe('+493012345678');
    expect(stubClean('1-800-FLOWERS')).toBe('18003569377');
    expect(stubClean('tel:+1-202-555-0100;ext=12')).toBe('+12025550100');
  });

  it('keeps pasted SIP addresses and names as they are', () => {
    expect(stubClean('  sip:Alice@example.com ')).toBe('sip:Alice@example.com');
    expect(stubClean('<bob@pbx.example.org>')).toBe('bob@pbx.example.org');
    expect(stubClean(' sales ')).toBe('sales');
  });

  it('bounds the text', () => {
    expect(stubClean('9'.repeat(10_000))).toHaveLength(STUB_MAX_LENGTH);
    expect(typed('1'.repeat(STUB_MAX_LENGTH + 5))).toHaveLength(STUB_MAX_LENGTH);
  });

  it('can call once there is something besides a +', () => {
    expect(stubCanCall('')).toBe(false);
    expect(stubCanCall('+')).toBe(false);
    expect(stubCanCall('#')).toBe(false);
    expect(stubCanCall('+4')).toBe(true);
    expect(stubCanCall('sales')).toBe(true);
  });
});

describe('createBackendStub', () => {
  it('answers the dialer commands with a DialerView', async () => {
    const stub = createBackendStub();
    expect(await stub.invoke('dialer_press', { key: '+' })).toEqual({ text: '+', canCall: false });
    expect(await stub.invoke('dialer_press', { key: '3' })).toEqual({ text: '+3', canCall: true });
    expect(await stub.invoke('dialer_backspace', {})).toEqual({ text: '+', canCall: false });
    expect(await stub.invoke('dialer_clear', {})).toEqual({ text: '', canCall: false });
    expect(await stub.invoke('dialer_backspace', {})).toEqual({ text: '', canCall: false });
  });

  it('replaces the text on paste', async () => {
    const stub = createBackendStub();
    await stub.invoke('dialer_press', { key: '5' });
    expect(await stub.invoke('dialer_paste', { text: 'tel:+49-30-123456' })).toEqual({
      text: '+4930123456',
      canCall: true,
    });
  });

  it('reports app info', async () => {
    expect(await createBackendStub().invoke('app_info', {})).toEqual({
      version: '0.0.0-preview',
      accountsConfigured: false,
    });
    expect(await createBackendStub({ version: '1.2.3', accountsConfigured: true }).invoke('app_info', {})).toEqual({
      version: '1.2.3',
      accountsConfigured: true,
    });
  });

  it('rejects dial with { code, message }', async () => {
    const stub = createBackendStub();
    await expect(stub.invoke('dial', { target: '123' })).rejects.toEqual({
      code: 'no_account',
      message: expect.any(String),
    });
    await expect(createBackendStub({ accountsConfigured: true }).invoke('dial', { target: '#' })).rejects.toMatchObject({
      code: 'invalid_target',
    });
  });

  it('simulates a dialed call: dialing, ringing, then active', async () => {
    vi.useFakeTimers();
    try {
      const stub = createBackendStub({ accountsConfigured: true });
      const events: unknown[] = [];
      await stub.listen('engine', (e) => events.push(e));
      const id = await stub.invoke('dial', { target: 'bob' });
      expect(typeof id).toBe('string');
      expect(events).toEqual([expect.objectContaining({ type: 'callChanged', call: id, remote: 'bob', outgoing: true, state: 'dialing' })]);
      await vi.advanceTimersByTimeAsync(400);
      expect(stub.calls[0]?.state).toBe('ringing');
      await vi.advanceTimersByTimeAsync(1000);
      expect(stub.calls[0]?.state).toBe('active');
      expect(await stub.invoke('list_calls', {})).toEqual([expect.objectContaining({ call: id, state: 'active' })]);
      await expect(stub.invoke('hold', { call: id, on: true })).resolves.toBeNull();
      expect(events.at(-1)).toMatchObject({ state: 'held', by_me: true });
      await stub.invoke('hangup', { call: id });
      await vi.advanceTimersByTimeAsync(50);
      expect(events.at(-1)).toMatchObject({ type: 'callChanged', state: 'ended', reason: 'hung up', code: null, by: 'local' });
      await expect(stub.invoke('hangup', { call: id })).rejects.toMatchObject({ code: 'unknown_call' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('rings in with ?incoming=1 and restores calls with ?call=active', async () => {
    vi.useFakeTimers();
    try {
      const stub = createBackendStub(stubOptionsFromQuery('?incoming=1'));
      expect(stub.calls).toEqual([]);
      await vi.advanceTimersByTimeAsync(1500);
      expect(stub.calls).toEqual([expect.objectContaining({ remote: 'bob@pbx.example.com', remoteName: 'Bob Stone', state: 'incoming' })]);
      const restored = createBackendStub(stubOptionsFromQuery('?call=active'));
      expect(await restored.invoke('list_calls', {})).toEqual([expect.objectContaining({ state: 'active', outgoing: true })]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('starts the echo test with a message', async () => {
    const reply = await createBackendStub().invoke('start_echo_test', {});
    expect(reply).toEqual({ message: expect.stringMatching(/echo test/i) });
  });

  it('rejects unknown commands and missing arguments like the shell would', async () => {
    const stub = createBackendStub();
    await expect(stub.invoke('dialer_pres', { key: '1' })).rejects.toMatchObject({ code: 'unknown_command' });
    await expect(stub.invoke('dialer_press', { digit: '1' })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(stub.invoke('dialer_paste', {})).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(stub.invoke('dial', {})).rejects.toMatchObject({ code: 'invalid_argument' });
    expect(stub.text).toBe('');
  });

  it('delivers events to listeners until they unsubscribe', async () => {
    const stub = createBackendStub();
    const handler = vi.fn();
    const unlisten = await stub.listen('registration-changed', handler);
    stub.emit('registration-changed', { state: 'registered' });
    stub.emit('other-event', 1);
    unlisten();
    stub.emit('registration-changed', { state: 'failed' });
    expect(handler).toHaveBeenCalledTimes(1);
    expect(handler).toHaveBeenCalledWith({ state: 'registered' });
  });
});
