import { describe, expect, it } from 'vitest';
import {
  describeState,
  emptyFields,
  fieldsFromView,
  firstError,
  hasAdvancedError,
  isUnencrypted,
  parseEngineEvent,
  splitAddress,
  stateOfEvent,
  suggestServer,
  toAccountInput,
  validateFields,
  type AccountFields,
} from './accounts';
import type { AccountView } from './types';

const fields = (over: Partial<AccountFields> = {}): AccountFields => ({
  ...emptyFields(),
  address: 'alice@pbx.example.com',
  server: 'wss://pbx.example.com',
  ...over,
});
const newAccount = { passwordRequired: true, passwordTyped: true };

describe('suggestServer', () => {
  it('suggests wss://<domain> from the address, without the SIP port', () => {
    expect(suggestServer('alice@pbx.example.com')).toBe('wss://pbx.example.com');
    expect(suggestServer('sip:alice@10.0.0.1:5060')).toBe('wss://10.0.0.1');
    expect(suggestServer(' alice@127.0.0.1 ')).toBe('wss://127.0.0.1');
    expect(suggestServer('bob@[::1]:5060')).toBe('wss://[::1]');
  });

  it('suggests nothing until there is a domain', () => {
    expect(suggestServer('')).toBe('');
    expect(suggestServer('alice')).toBe('');
    expect(suggestServer('alice@')).toBe('');
  });
});

describe('validateFields', () => {
  it('accepts a plain account', () => {
    expect(validateFields(fields(), newAccount)).toEqual({});
    expect(validateFields(fields({ server: 'WS://127.0.0.1:8080/ws' }), newAccount)).toEqual({});
    expect(validateFields(fields({ address: 'sip:alice@pbx.example.com' }), newAccount)).toEqual({});
  });

  it('refuses an address without @, with a sentence next to the field', () => {
    const errors = validateFields(fields({ address: 'alice' }), newAccount);
    expect(errors.address).toMatch(/user@domain/);
    expect(Object.keys(errors)).toEqual(['address']);
    expect(validateFields(fields({ address: 'a@b@c' }), newAccount).address).toBeDefined();
    expect(validateFields(fields({ address: '  ' }), newAccount).address).toMatch(/Enter your SIP address/);
  });

  it('refuses a server that is not ws:// or wss://', () => {
    for (const server of ['https://pbx.example.com', 'pbx.example.com', 'sip:pbx.example.com']) {
      expect(validateFields(fields({ server }), newAccount).server, server).toMatch(/wss:\/\//);
    }
    expect(validateFields(fields({ server: 'wss://' }), newAccount).server).toBeDefined();
    expect(validateFields(fields({ server: '' }), newAccount).server).toMatch(/Enter the server URL/);
  });

  it('needs a password for a new account, not when one is saved', () => {
    expect(validateFields(fields(), { passwordRequired: true, passwordTyped: false }).password).toBeDefined();
    expect(validateFields(fields(), { passwordRequired: false, passwordTyped: false })).toEqual({});
  });

  it('checks the advanced fields only when they are filled in', () => {
    const errors = validateFields(
      fields({ outboundProxy: 'http://proxy', expires: '10', fingerprint: 'abc' }),
      newAccount,
    );
    expect(Object.keys(errors).sort()).toEqual(['expires', 'fingerprint', 'outboundProxy']);
    expect(hasAdvancedError(errors)).toBe(true);
    expect(firstError(errors)).toBe('outboundProxy');
    const ok = validateFields(
      fields({ outboundProxy: 'wss://proxy:8443/ws', expires: '300', fingerprint: 'AB:'.repeat(31) + 'AB', caFile: '/ca.pem' }),
      newAccount,
    );
    expect(ok).toEqual({});
    expect(validateFields(fields({ expires: '3.5' }), newAccount).expires).toBeDefined();
  });

  it('orders errors as the form does', () => {
    const errors = validateFields(fields({ address: 'x', server: 'y' }), { passwordRequired: true, passwordTyped: false });
    expect(firstError(errors)).toBe('address');
    expect(firstError({})).toBeNull();
  });
});

describe('splitAddress and isUnencrypted', () => {
  it('splits user@domain and ignores sip: and URI parameters', () => {
    expect(splitAddress('<sip:bob@10.0.0.1:5060;transport=ws>')).toEqual({ user: 'bob', domain: '10.0.0.1:5060' });
    expect(splitAddress('bob')).toBeNull();
    expect(splitAddress('b ob@x')).toBeNull();
  });

  it('flags ws:// only', () => {
    expect(isUnencrypted('ws://127.0.0.1:8080')).toBe(true);
    expect(isUnencrypted(' WS://x')).toBe(true);
    expect(isUnencrypted('wss://x')).toBe(false);
  });
});

describe('toAccountInput', () => {
  it('sends snake_case account fields, password and makeDefault only when given', () => {
    expect(toAccountInput(fields({ address: ' alice@pbx.example.com ' }), '')).toEqual({
      address: 'alice@pbx.example.com',
      server: 'wss://pbx.example.com',
    });
    expect(
      toAccountInput(
        fields({
          displayName: 'Alice',
          authUser: 'a1',
          outboundProxy: 'wss://proxy',
          expires: '300',
          caFile: '/ca.pem',
          fingerprint: 'AB',
        }),
        'pw',
        true,
      ),
    ).toEqual({
      address: 'alice@pbx.example.com',
      server: 'wss://pbx.example.com',
      display_name: 'Alice',
      auth_user: 'a1',
      outbound_proxy: 'wss://proxy',
      expires: 300,
      tls: { ca_file: '/ca.pem', fingerprint_sha256: 'AB' },
      password: 'pw',
      makeDefault: true,
    });
  });

  it('round-trips a saved account through the form', () => {
    const view: AccountView = {
      id: 'alice@pbx.example.com',
      account: {
        address: 'alice@pbx.example.com',
        auth_user: null,
        display_name: 'Alice',
        server: 'wss://pbx.example.com',
        outbound_proxy: null,
        expires: 600,
        tls: { ca_file: '/ca.pem', fingerprint_sha256: null },
      },
      enabled: true,
      isDefault: true,
      unencrypted: false,
      hasPassword: true,
      registration: null,
    };
    const f = fieldsFromView(view);
    expect(f.expires).toBe('');
    expect(toAccountInput(f, '')).toEqual({
      address: 'alice@pbx.example.com',
      server: 'wss://pbx.example.com',
      display_name: 'Alice',
      tls: { ca_file: '/ca.pem' },
    });
  });
});

describe('engine events → registration state', () => {
  it('reads registrationChanged with the state fields flattened next to the account', () => {
    const cases = [
      [{ state: 'registering' }, { state: 'registering' }],
      [{ state: 'registered', expires: 300 }, { state: 'registered', expires: 300 }],
      [{ state: 'failed', reason: 'No.' }, { state: 'failed', reason: 'No.' }],
      [{ state: 'retrying', in_seconds: 8 }, { state: 'retrying', in_seconds: 8 }],
      [{ state: 'unregistered' }, { state: 'unregistered' }],
    ] as const;
    for (const [fieldsIn, state] of cases) {
      const event = parseEngineEvent({ type: 'registrationChanged', account: 'a@b', ...fieldsIn });
      expect(event, JSON.stringify(fieldsIn)).toEqual({ type: 'registrationChanged', account: 'a@b', ...state });
      if (event?.type === 'registrationChanged') expect(stateOfEvent(event)).toEqual(state);
    }
  });

  it('drops malformed or unknown events', () => {
    for (const bad of [
      null,
      'x',
      { type: 'registrationChanged', state: 'registered', expires: 1 },
      { type: 'registrationChanged', account: 'a@b', state: 'registered' },
      { type: 'registrationChanged', account: 'a@b', state: 'failed' },
      { type: 'registrationChanged', account: 'a@b', state: 'retrying', inSeconds: 3 },
      { type: 'incomingCall' },
      { type: 'notice' },
    ]) {
      expect(parseEngineEvent(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it('reads the other events', () => {
    expect(parseEngineEvent({ type: 'accountsChanged' })).toEqual({ type: 'accountsChanged' });
    expect(parseEngineEvent({ type: 'notice', message: 'Hi' })).toEqual({ type: 'notice', message: 'Hi' });
    expect(parseEngineEvent({ type: 'ready', version: '1' })).toEqual({ type: 'ready', version: '1' });
    expect(parseEngineEvent({ type: 'dialerChanged', text: '1', canCall: true })).toEqual({
      type: 'dialerChanged',
      text: '1',
      canCall: true,
    });
  });
});

describe('describeState', () => {
  it('puts every state in words, the failure reason as the engine said it', () => {
    expect(describeState(null)).toMatchObject({ tone: 'idle' });
    expect(describeState({ state: 'registering' })).toMatchObject({ tone: 'progress', label: 'Registering…' });
    expect(describeState({ state: 'registered', expires: 600 })).toMatchObject({ tone: 'ok', label: 'Registered' });
    expect(describeState({ state: 'failed', reason: 'The server rejected the password for a@b.' })).toEqual({
      tone: 'error',
      label: 'Failed',
      detail: 'The server rejected the password for a@b.',
    });
    expect(describeState({ state: 'retrying', in_seconds: 8 })).toMatchObject({ tone: 'warn', label: 'Retrying in 8 s' });
    expect(describeState({ state: 'retrying', in_seconds: 8 }, 3).label).toBe('Retrying in 3 s');
    expect(describeState({ state: 'retrying', in_seconds: 8 }, 0).label).toBe('Retrying…');
    expect(describeState({ state: 'unregistered' })).toMatchObject({ tone: 'idle', label: 'Offline' });
  });
});
