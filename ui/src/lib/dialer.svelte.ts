// Dialer state. The engine owns the dial text: every edit is a command whose
// reply (a DialerView) replaces what is shown. Edits are sent one at a time, in
// order, so fast typing can never show an older reply after a newer one.

import type { Backend } from './backend';
import { dialWithProgress } from './dial';
import type { DialerAction } from './keys';
import { clipPaste } from './keys';
import type { StatusLine } from './status.svelte';
import type { DialerView } from './types';

export interface DialerOptions {
  /** A call was placed: show it (the in-call screen). */
  onDialed?: (call: string, target: string) => void;
}

export class DialerModel {
  /** Exactly the engine's `DialerView.text`. */
  text = $state('');
  /** The engine's `DialerView.canCall` (drives how the call button looks). */
  canCall = $state(false);
  calling = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;
  readonly #onDialed: (call: string, target: string) => void;
  #queue: Promise<void> = Promise.resolve();

  constructor(backend: Backend, status: StatusLine, options: DialerOptions = {}) {
    this.backend = backend;
    this.status = status;
    this.#onDialed = options.onDialed ?? (() => {});
  }

  #show(view: DialerView): void {
    this.text = view.text;
    this.canCall = view.canCall;
  }

  /** Queue an edit; resolves once its reply is shown (or its error reported). */
  #edit(command: () => Promise<DialerView>, clearStatus = true): Promise<void> {
    const next = this.#queue.then(command).then(
      (view) => {
        this.#show(view);
        if (clearStatus && this.status.current?.kind !== 'progress') this.status.clear();
      },
      (error: unknown) => this.status.error(error),
    );
    this.#queue = next;
    return next;
  }

  /** Resolves when every queued edit has been applied. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /**
   * Follow the engine's `dialerChanged` events, so a number put in by someone
   * else (tray quick-dial, a clicked tel: link, the CLI) shows up here too.
   */
  follow(): Promise<() => void> {
    return this.backend.onEvent<unknown>('engine', (event) => {
      const record = event !== null && typeof event === 'object' ? (event as Record<string, unknown>) : null;
      if (record?.type !== 'dialerChanged') return;
      if (typeof record.text === 'string' && typeof record.canCall === 'boolean') {
        this.#show({ text: record.text, canCall: record.canCall });
      }
    });
  }

  /**
   * Start from what the engine holds (also after a reload): a link clicked or
   * a tray action taken while the window was closed is not lost.
   */
  reset(): Promise<void> {
    return this.#edit(() => this.backend.dialerView(), false);
  }

  press(key: string): Promise<void> {
    return this.#edit(() => this.backend.dialerPress(key));
  }

  backspace(): Promise<void> {
    return this.#edit(() => this.backend.dialerBackspace());
  }

  paste(text: string): Promise<void> {
    const clipped = clipPaste(text);
    if (clipped.trim() === '') return this.#queue;
    return this.#edit(() => this.backend.dialerPaste(clipped));
  }

  clear(): Promise<void> {
    return this.#edit(() => this.backend.dialerClear());
  }

  /**
   * Dial what the engine shows, after any edits still in flight. On success
   * the call is handed to `onDialed` and the display is cleared; resolves to
   * the call id (null when nothing was dialed).
   */
  async call(): Promise<string | null> {
    await this.#queue;
    if (this.calling) return null;
    if (this.text === '') {
      this.status.info('Type a number to call.');
      return null;
    }
    const target = this.text;
    this.calling = true;
    try {
      const call = await dialWithProgress(this.backend, this.status, target);
      if (call === null) return null;
      this.#onDialed(call, target);
      void this.#edit(() => this.backend.dialerClear(), false);
      return call;
    } finally {
      this.calling = false;
    }
  }

  /** Apply a keyboard action (see keys.ts). */
  perform(action: DialerAction): Promise<void> {
    switch (action.type) {
      case 'press':
        return this.press(action.key);
      case 'backspace':
        return this.backspace();
      case 'clear':
        return this.clear();
      case 'call':
        return this.call().then(() => {});
    }
  }
}
