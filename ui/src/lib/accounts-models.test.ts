import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccountEditor } from './account-editor.svelte';
import { AccountsModel } from './accounts.svelte';
import { AppModel } from './app.svelte';
import { createBackend } from './backend';
import { createBackendStub, stubOptionsFromQuery, type StubOptions } from './backend-stub';
import { StatusLine } from './status.svelte';
import type { InvokeFn } from './types';

function setup(options: StubOptions = {}) {
  const stub = createBackendStub({ registerDelayMs: 0, ...options });
  const calls: Array<[string, Record<string, unknown>]> = [];
  const invoke: InvokeFn = (cmd, args) => {
    calls.push([cmd, structuredClone(args)]);
    return stub.invoke(cmd, args);
  };
  const backend = createBackend(invoke, stub.listen, 'stub');
  const status = new StatusLine();
  const app = new AppModel(backend, status);
  const accounts = new AccountsModel(backend, status, { onCount: (n) => app.setAccountsConfigured(n > 0) });
  return { stub, calls, status, app, accounts };
}

const settle = (check: () => void) => vi.waitFor(check, { timeout: 1000, interval: 5 });

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('AccountsModel + stub: first-run setup', () => {
  it('saves, then shows Registering… → Registered from the engine events', async () => {
    const { app, accounts, calls } = setup({ registerDelayMs: 20 });
    await app.start();
    await accounts.follow();
    expect(app.needsAccount).toBe(true);

    const editor = new AccountEditor(accounts);
    editor.setAddress('alice@pbx.example.com');
    expect(editor.fields.server).toBe('wss://pbx.example.com');
    const outcome = await editor.save('s3cret');
    expect(outcome).toEqual({ ok: true });
    expect(editor.phase).toBe('progress');
    expect(editor.savedId).toBe('alice@pbx.example.com');
    expect(calls.find(([c]) => c === 'save_account')?.[1]).toEqual({
      input: { address: 'alice@pbx.example.com', server: 'wss://pbx.example.com', password: 's3cret' },
    });
    expect(accounts.words('alice@pbx.example.com').label).toBe('Registering…');
    expect(app.needsAccount).toBe(false);

    await settle(() => expect(accounts.words('alice@pbx.example.com').label).toBe('Registered'));
    expect(accounts.defaultAccount?.id).toBe('alice@pbx.example.com');
    expect(accounts.list).toHaveLength(1);
  });

  it('keeps a typed server URL when the address changes, and suggests again once it is cleared', () => {
    const { accounts } = setup();
    const editor = new AccountEditor(accounts);
    editor.setAddress('alice@a.example');
    editor.setServer('ws://127.0.0.1:8080');
    editor.setAddress('alice@b.example');
    expect(editor.fields.server).toBe('ws://127.0.0.1:8080');
    editor.setServer('');
    editor.setAddress('alice@c.example');
    expect(editor.fields.server).toBe('wss://c.example');
  });

  it('checks locally before sending anything, and says which field is wrong', async () => {
    const { accounts, calls } = setup();
    const editor = new AccountEditor(accounts);
    expect(editor.visibleErrors(false)).toEqual({}); // nothing shown before a save or a blur
    editor.setAddress('alice');
    editor.touch('address');
    expect(Object.keys(editor.visibleErrors(false))).toEqual(['address']);
    expect(await editor.save('')).toEqual({ ok: false, focus: 'address' });
    expect(Object.keys(editor.visibleErrors(false)).sort()).toEqual(['address', 'password', 'server']);
    expect(calls).toEqual([]);
  });

  it('shows the engine\'s sentence when it refuses the account', async () => {
    const { accounts } = setup();
    const editor = new AccountEditor(accounts);
    editor.setAddress('alice@pbx.example.com');
    editor.setServer('wss://pbx.example.com:99999'); // passes the local check, the engine refuses
    expect(await editor.save('pw')).toEqual({ ok: false, focus: 'engine-error' });
    expect(editor.engineError).toMatch(/The server address "wss:\/\/pbx.example.com:99999" is not valid/);
    expect(editor.phase).toBe('form');
    expect(accounts.stateOf('alice@pbx.example.com')).toBeNull(); // the optimistic state is undone
  });

  it('a wrong password fails in words; Edit with the right one registers', async () => {
    const { accounts, calls } = setup();
    await accounts.follow();
    const editor = new AccountEditor(accounts);
    editor.setAddress('alice@pbx.example.com');
    await editor.save('wrong');
    await settle(() => expect(accounts.stateOf('alice@pbx.example.com')?.state).toBe('failed'));
    expect(accounts.words('alice@pbx.example.com').detail).toBe('The server rejected the password for alice@pbx.example.com.');

    // Try again re-sends the details without a password (the engine keeps the saved one).
    await editor.retry();
    expect(calls.filter(([c]) => c === 'save_account').at(-1)?.[1]).toEqual({
      input: { address: 'alice@pbx.example.com', server: 'wss://pbx.example.com' },
    });
    await settle(() => expect(accounts.stateOf('alice@pbx.example.com')?.state).toBe('failed'));

    editor.edit();
    expect(editor.phase).toBe('form');
    expect(editor.passwordRequired).toBe(false); // a password is saved: empty = keep
    await editor.save('right');
    await settle(() => expect(accounts.stateOf('alice@pbx.example.com')?.state).toBe('registered'));
  });

  it('an edited address replaces the old account and needs the password again', async () => {
    const { accounts } = setup({ accounts: [{ address: 'alice@old.example' }] });
    await accounts.reload();
    const old = accounts.find('alice@old.example');
    expect(old).not.toBeNull();
    const editor = new AccountEditor(accounts, old);
    expect(editor.passwordRequired).toBe(false);
    editor.setAddress('alice@new.example');
    expect(editor.fields.server).toBe('wss://old.example'); // a saved server is never rewritten
    expect(editor.passwordRequired).toBe(true);
    expect((await editor.save('')).ok).toBe(false);
    expect((await editor.save('pw')).ok).toBe(true);
    await settle(() => expect(accounts.list.map((a) => a.id)).toEqual(['alice@new.example']));
  });

  it('never logs the password', async () => {
    const logged: unknown[] = [];
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(...args));
    }
    const { accounts, status } = setup();
    await accounts.follow();
    const editor = new AccountEditor(accounts);
    editor.setAddress('alice@pbx.example.com');
    await editor.save('hunter2-secret');
    await settle(() => expect(accounts.stateOf('alice@pbx.example.com')?.state).toBe('registered'));
    const seen = JSON.stringify([logged, accounts.list, accounts.live, editor.fields, status.current]);
    expect(seen).not.toContain('hunter2-secret');
  });
});

describe('AccountsModel + stub: settings', () => {
  it('lists accounts with their states, makes another the default, removes one', async () => {
    const { accounts, app } = setup(stubOptionsFromQuery('?accounts=demo'));
    await app.start();
    await accounts.follow();
    await accounts.reload();
    expect(accounts.list.map((a) => [a.id, a.isDefault, accounts.words(a.id).tone])).toEqual([
      ['alice@pbx.example.com', true, 'ok'],
      ['support@sip.example.org', false, 'error'],
      ['lab@127.0.0.1', false, 'warn'],
    ]);
    expect(accounts.find('lab@127.0.0.1')?.unencrypted).toBe(true);

    await accounts.makeDefault('support@sip.example.org');
    expect(accounts.defaultAccount?.id).toBe('support@sip.example.org');

    await accounts.remove('support@sip.example.org');
    expect(accounts.list.map((a) => a.id)).toEqual(['alice@pbx.example.com', 'lab@127.0.0.1']);
    expect(accounts.defaultAccount?.id).toBe('alice@pbx.example.com');

    await accounts.remove('alice@pbx.example.com');
    await accounts.remove('lab@127.0.0.1');
    expect(app.needsAccount).toBe(true);
    await expect(accounts.remove('nobody@x')).rejects.toMatchObject({ code: 'unknown_account' });
  });

  it('follows registrationChanged events and counts a retry down', async () => {
    vi.useFakeTimers();
    let now = 1_000_000;
    const { stub, status } = setup();
    const backend = createBackend(stub.invoke, stub.listen, 'stub');
    const accounts = new AccountsModel(backend, status, { now: () => now });
    const stop = await accounts.follow();

    stub.emit('engine', { type: 'registrationChanged', account: 'a@b', state: 'retrying', in_seconds: 5 });
    expect(accounts.words('a@b').label).toBe('Retrying in 5 s');
    now += 2000;
    vi.advanceTimersByTime(2000);
    expect(accounts.words('a@b').label).toBe('Retrying in 3 s');
    now += 10_000;
    vi.advanceTimersByTime(10_000);
    expect(accounts.words('a@b').label).toBe('Retrying…');

    stub.emit('engine', { type: 'registrationChanged', account: 'a@b', state: 'registered', expires: 600 });
    expect(accounts.words('a@b').label).toBe('Registered');
    expect(vi.getTimerCount()).toBe(0); // no ticking once nothing is retrying

    stub.emit('engine', { type: 'notice', message: 'Settings were unreadable.' });
    expect(status.current).toEqual({ kind: 'info', text: 'Settings were unreadable.' });
    stub.emit('engine', { type: 'registrationChanged', account: 'a@b', state: 'nonsense' });
    expect(accounts.words('a@b').label).toBe('Registered');
    stop();
  });

  it('reloads the list when the engine says the accounts changed', async () => {
    const { stub, accounts, calls } = setup();
    await accounts.follow();
    stub.emit('engine', { type: 'accountsChanged' });
    await settle(() => expect(accounts.loaded).toBe(true));
    expect(calls.map(([c]) => c)).toEqual(['list_accounts']);
  });
});

describe('backend stub: accounts', () => {
  it('keeps no password, only whether one is saved', async () => {
    const stub = createBackendStub({ registerDelayMs: 0 });
    const view = await stub.invoke('save_account', {
      input: { address: 'alice@pbx.example.com', server: 'ws://127.0.0.1:8080', password: 'pw', makeDefault: true },
    });
    expect(view).toMatchObject({ id: 'alice@pbx.example.com', hasPassword: true, unencrypted: true, isDefault: true });
    expect(JSON.stringify(await stub.invoke('list_accounts', {}))).not.toContain('"pw"');
    expect(await stub.invoke('app_info', {})).toMatchObject({ accountsConfigured: true });
  });

  it('fails a registration without a saved password with the engine\'s sentence', async () => {
    const stub = createBackendStub({ registerDelayMs: 0 });
    const events: unknown[] = [];
    await stub.listen('engine', (e) => events.push(e));
    await stub.invoke('save_account', { input: { address: 'bob@pbx.example.com', server: 'wss://pbx.example.com' } });
    expect(events).toContainEqual({
      type: 'registrationChanged',
      account: 'bob@pbx.example.com',
      state: 'failed',
      reason: 'No password is saved for bob@pbx.example.com: enter it in Settings → Accounts.',
    });
  });

  it('refuses bad input like the engine', async () => {
    const stub = createBackendStub();
    await expect(stub.invoke('save_account', { input: { address: 'alice', server: 'wss://x' } })).rejects.toMatchObject({
      code: 'invalid_account',
      message: 'The SIP address "alice" is not valid: write it as user@domain.',
    });
    await expect(
      stub.invoke('save_account', { input: { address: 'a@b', server: 'wss://x', tls: { fingerprint_sha256: 'zz' } } }),
    ).rejects.toMatchObject({ code: 'invalid_account' });
    await expect(stub.invoke('set_default_account', { id: 'x@y' })).rejects.toMatchObject({ code: 'unknown_account' });
  });
});
