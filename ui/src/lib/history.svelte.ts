// The call history screen's state: filter, search, the rows, call back and
// delete; reloads when the engine says the history changed.

import type { Backend } from './backend';
import { dialWithProgress } from './dial';
import type { StatusLine } from './status.svelte';
import { ENGINE_EVENT, type HistoryEntry, type HistoryFilter } from './types';

export interface HistoryOptions {
  /** A call back was placed: show it. */
  onDialed?: (call: string, target: string) => void;
}

export class HistoryModel {
  filter = $state<HistoryFilter>('all');
  search = $state('');
  entries = $state<HistoryEntry[]>([]);
  loaded = $state(false);
  calling = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;
  readonly #onDialed: (call: string, target: string) => void;
  /** Only the newest load's reply is shown. */
  #generation = 0;

  constructor(backend: Backend, status: StatusLine, options: HistoryOptions = {}) {
    this.backend = backend;
    this.status = status;
    this.#onDialed = options.onDialed ?? (() => {});
  }

  async load(): Promise<void> {
    const generation = ++this.#generation;
    try {
      const entries = await this.backend.listHistory(this.filter, this.search);
      if (generation !== this.#generation) return;
      this.entries = entries;
      this.loaded = true;
    } catch (error) {
      if (generation === this.#generation) this.status.error(error);
    }
  }

  setFilter(filter: HistoryFilter): Promise<void> {
    this.filter = filter;
    return this.load();
  }

  setSearch(text: string): Promise<void> {
    this.search = text;
    return this.load();
  }

  /** Reload whenever the engine's history changes. */
  async follow(): Promise<() => void> {
    return this.backend.onEvent<unknown>(ENGINE_EVENT, (payload) => {
      const type = (payload as { type?: unknown } | null)?.type;
      if (type === 'historyChanged') void this.load();
    });
  }

  /** Dial the row's number again (from the default account). */
  async callBack(entry: HistoryEntry): Promise<string | null> {
    if (this.calling) return null;
    this.calling = true;
    try {
      const call = await dialWithProgress(this.backend, this.status, entry.remote);
      if (call !== null) this.#onDialed(call, entry.remote);
      return call;
    } finally {
      this.calling = false;
    }
  }

  async remove(id: number): Promise<void> {
    try {
      await this.backend.deleteHistory(id);
      this.entries = this.entries.filter((e) => e.id !== id);
    } catch (error) {
      this.status.error(error);
    }
  }
}
