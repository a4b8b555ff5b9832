// The account list and each account's live registration state, kept in step
// with the engine through its `engine` events.

import { accountIdOf, describeState, parseEngineEvent, stateOfEvent, type StateWords } from './accounts';
import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';
import { ENGINE_EVENT, type AccountInput, type AccountView, type RegistrationState } from './types';

export interface AccountsOptions {
  /** Milliseconds since the epoch (tests pass a fake clock). */
  now?: () => number;
  /** Told the number of accounts after every reload (AppModel keeps `accountsConfigured`). */
  onCount?: (count: number) => void;
}

export class AccountsModel {
  list = $state<AccountView[]>([]);
  loaded = $state(false);
  /** Latest state per account id, from events (newer than the list's). */
  live = $state<Record<string, RegistrationState>>({});
  /** When a `retrying` state arrived, per account id (for the countdown). */
  #retrySince: Record<string, number> = {};
  /** Ticks once a second while an account is retrying. */
  clock = $state(0);

  readonly backend: Backend;
  readonly status: StatusLine;
  readonly #now: () => number;
  readonly #onCount: (count: number) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reloads = 0;

  constructor(backend: Backend, status: StatusLine, options: AccountsOptions = {}) {
    this.backend = backend;
    this.status = status;
    this.#now = options.now ?? Date.now;
    this.#onCount = options.onCount ?? (() => {});
    this.clock = this.#now();
  }

  /** The account calls go out from (the engine's default, else the first). */
  get defaultAccount(): AccountView | null {
    return this.list.find((a) => a.isDefault) ?? this.list[0] ?? null;
  }

  find(id: string): AccountView | null {
    return this.list.find((a) => a.id === id) ?? null;
  }

  stateOf(id: string): RegistrationState | null {
    return this.live[id] ?? this.find(id)?.registration ?? null;
  }

  /** Seconds left before a retrying account tries again (counted down locally). */
  secondsLeft(id: string): number | undefined {
    const state = this.stateOf(id);
    if (state?.state !== 'retrying') return undefined;
    const since = this.#retrySince[id] ?? this.clock;
    return Math.max(0, state.in_seconds - Math.floor((this.clock - since) / 1000));
  }

  /** The state of `id` in words (live countdown included). */
  words(id: string): StateWords {
    return describeState(this.stateOf(id), this.secondsLeft(id));
  }

  /** Follow the engine's events; resolves to a function that stops following. */
  async follow(): Promise<() => void> {
    const stop = await this.backend.onEvent<unknown>(ENGINE_EVENT, (payload) => this.apply(payload));
    return () => {
      stop();
      this.#stopTimer();
    };
  }

  /** Apply one `engine` event payload (exported for tests). */
  apply(payload: unknown): void {
    const event = parseEngineEvent(payload);
    if (!event) return;
    if (event.type === 'registrationChanged') {
      this.#setState(event.account, stateOfEvent(event));
    } else if (event.type === 'accountsChanged') {
      void this.reload();
    } else if (event.type === 'notice') {
      this.status.info(event.message);
    }
  }

  #setState(id: string, state: RegistrationState): void {
    this.live = { ...this.live, [id]: state };
    if (state.state === 'retrying') {
      this.#retrySince[id] = this.#now();
      this.clock = this.#now();
    } else {
      delete this.#retrySince[id];
    }
    this.#syncTimer();
  }

  #syncTimer(): void {
    const retrying = Object.values(this.live).some((s) => s.state === 'retrying');
    if (retrying && this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.clock = this.#now();
      }, 1000);
    } else if (!retrying) {
      this.#stopTimer();
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Ask the engine for the list again (the last of overlapping reloads wins). */
  async reload(): Promise<void> {
    const ticket = ++this.#reloads;
    try {
      const list = await this.backend.listAccounts();
      if (ticket !== this.#reloads) return;
      this.list = list;
      this.loaded = true;
      // Forget live states of accounts that are gone (a re-added one starts afresh).
      const ids = new Set(list.map((a) => a.id));
      const live = Object.fromEntries(Object.entries(this.live).filter(([id]) => ids.has(id)));
      if (Object.keys(live).length !== Object.keys(this.live).length) {
        this.live = live;
        this.#syncTimer();
      }
      this.#onCount(list.length);
    } catch (error) {
      if (ticket === this.#reloads) this.status.error(error);
    }
  }

  /** Save (add or change) an account; rejects with the engine's BackendError. */
  async save(input: AccountInput): Promise<AccountView> {
    // Saving (re)starts the registration at once: show that until the engine says more.
    const id = accountIdOf(input.address);
    const before = id ? this.live[id] : undefined;
    if (id) this.#setState(id, { state: 'registering' });
    let view: AccountView;
    try {
      view = await this.backend.saveAccount(input);
    } catch (error) {
      if (id && this.live[id]?.state === 'registering') {
        const { [id]: _optimistic, ...rest } = this.live;
        this.live = before ? { ...rest, [id]: before } : rest;
        this.#syncTimer();
      }
      throw error;
    }
    // The reply is as new as anything we know, unless an event already said more.
    if (view.registration && !this.live[view.id]) this.#setState(view.id, view.registration);
    const index = this.list.findIndex((a) => a.id === view.id);
    if (index >= 0) this.list[index] = view;
    else this.list = [...this.list, view];
    if (view.isDefault) this.list = this.list.map((a) => (a.id === view.id ? a : { ...a, isDefault: false }));
    this.#onCount(this.list.length);
    return view;
  }

  /** Forget the account (and its password); rejects with the engine's error. */
  async remove(id: string): Promise<void> {
    await this.backend.removeAccount(id);
    this.list = this.list.filter((a) => a.id !== id);
    const { [id]: _gone, ...rest } = this.live;
    this.live = rest;
    delete this.#retrySince[id];
    this.#syncTimer();
    this.#onCount(this.list.length);
    await this.reload();
  }

  async makeDefault(id: string): Promise<void> {
    await this.backend.setDefaultAccount(id);
    this.list = this.list.map((a) => ({ ...a, isDefault: a.id === id }));
  }
}
