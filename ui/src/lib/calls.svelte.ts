// The calls: every live call as the engine last described it, which one the
// in-call screen shows, and the actions on them (answer, hold, mute, touch
// tones, transfer, hang up). Driven by the `engine` events (`callChanged`…)
// and by `list_calls` at start, so a reopened window shows the call again.

import type { Backend } from './backend';
import { endedWords, isConnected, parseCallEvent, remoteTitle, type CallEvent } from './calls';
import type { StatusLine } from './status.svelte';
import { ENGINE_EVENT, type CallStats, type CallView, type CallWarning } from './types';

/** What the call part of the window shows (null: no call, the normal screens). */
export type CallScreen = 'incoming' | 'call' | 'ended' | null;

/** How long "Call ended — …" stays before the dialer (or another call) comes back. */
export const ENDED_MS = 2000;

export interface CallsOptions {
  /** Milliseconds since the epoch (tests pass a fake clock). */
  now?: () => number;
  /** How long the ended call stays on screen (default ENDED_MS). */
  endedMs?: number;
}

/** An action being sent for a call (its button shows as busy meanwhile). */
export type CallAction = 'answer' | 'decline' | 'hangup' | 'hold' | 'mute' | 'transfer';

export class CallsModel {
  /** Live calls, oldest first. */
  calls = $state<CallView[]>([]);
  /** The call the in-call screen shows (when it is live and not ringing in). */
  selected = $state<string | null>(null);
  /** The call that just ended, shown for a moment. */
  ended = $state<CallView | null>(null);
  /** Our microphone is muted in that call (the engine does not report it back). */
  muted = $state<Record<string, boolean>>({});
  /** Touch tones sent in each call, for the keypad's display. */
  sentDigits = $state<Record<string, string>>({});
  /** When each call connected (milliseconds since the epoch). */
  connectedAt = $state<Record<string, number>>({});
  /** Incoming calls we answered that the engine still reports as incoming (until the ACK). */
  answered = $state<Record<string, true>>({});
  /** Actions in flight per call. */
  pending = $state<Record<string, CallAction | undefined>>({});
  /** Ticks once a second while a call is connected (drives the timers). */
  clock = $state(0);
  /** The last second of each call (`callStats`). */
  stats = $state<Record<string, CallStats>>({});
  /** What is wrong with each call's network, in words (`callWarnings`; absent: all well). */
  warnings = $state<Record<string, CallWarning[]>>({});
  /** Calls whose media path is lost: since when (ms since the epoch). */
  reconnecting = $state<Record<string, number>>({});
  /** The calls mixed in the local conference (empty: none). */
  conference = $state<string[]>([]);
  /** A merge or split is being sent. */
  conferenceBusy = $state(false);
  /** "Add call": the dialer is shown while the calls go on (on hold once we dial). */
  adding = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;
  readonly #now: () => number;
  readonly #endedMs: number;
  /** Calls already ended: late replies (a dial's, the list's) must not bring them back. */
  readonly #gone = new Set<string>();
  #endedTimer: ReturnType<typeof setTimeout> | undefined;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #dtmfQueue: Promise<void> = Promise.resolve();

  constructor(backend: Backend, status: StatusLine, options: CallsOptions = {}) {
    this.backend = backend;
    this.status = status;
    this.#now = options.now ?? Date.now;
    this.#endedMs = options.endedMs ?? ENDED_MS;
    this.clock = this.#now();
  }

  // ---- what is shown ----------------------------------------------------------

  find(id: string): CallView | null {
    return this.calls.find((c) => c.call === id) ?? null;
  }

  /** Rings in, not answered yet (the incoming screen shows it). */
  isRinging(view: CallView): boolean {
    return view.state === 'incoming' && !this.answered[view.call];
  }

  /** The first call ringing in, waiting for Answer or Decline. */
  get incoming(): CallView | null {
    return this.calls.find((c) => this.isRinging(c)) ?? null;
  }

  /** Calls that are past ringing in (ours, or answered). */
  get inCall(): CallView[] {
    return this.calls.filter((c) => !this.isRinging(c));
  }

  /** The call on the in-call screen: the one chosen, else an active one, else the newest. */
  get current(): CallView | null {
    const calls = this.inCall;
    return (
      calls.find((c) => c.call === this.selected) ??
      calls.find((c) => c.state === 'active') ??
      calls[calls.length - 1] ??
      null
    );
  }

  /** A call other than `id` that is connected and not on hold by us (to hold before answering). */
  othersTalking(id: string): CallView[] {
    return this.calls.filter((c) => c.call !== id && (c.state === 'active' || (c.state === 'held' && !c.by_me)));
  }

  get screen(): CallScreen {
    if (this.incoming) return 'incoming';
    if (this.ended) return 'ended';
    return this.current && !this.adding ? 'call' : null;
  }

  /** Connected calls not in the conference yet (Merge adds them). */
  get mergeable(): CallView[] {
    return this.inCall.filter((c) => isConnected(c) && !this.conference.includes(c.call));
  }

  /** Merge is offered: two or more connected calls, not all in one conference already. */
  get canMerge(): boolean {
    const connected = this.inCall.filter(isConnected);
    return connected.length >= 2 && this.mergeable.length > 0;
  }

  /** Seconds since `id` lost its media path, or null while it is fine. */
  reconnectingFor(id: string): number | null {
    const since = this.reconnecting[id];
    return since === undefined ? null : Math.max(0, Math.floor((this.clock - since) / 1000));
  }

  /** Whole seconds since `id` connected, or null before that. */
  elapsed(id: string): number | null {
    const since = this.connectedAt[id];
    return since === undefined ? null : Math.max(0, Math.floor((this.clock - since) / 1000));
  }

  // ---- following the engine ------------------------------------------------------

  /** Follow the engine's events; resolves to a function that stops following. */
  async follow(): Promise<() => void> {
    const stop = await this.backend.onEvent<unknown>(ENGINE_EVENT, (payload) => {
      const event = parseCallEvent(payload);
      if (event) this.apply(event);
    });
    return () => {
      stop();
      this.dispose();
    };
  }

  /** Stop the timers. */
  dispose(): void {
    clearTimeout(this.#endedTimer);
    this.#stopTicker();
  }

  /** The calls the engine has now (at start, and after the window is reopened). */
  async load(): Promise<void> {
    try {
      const list = await this.backend.listCalls();
      // Events that came meanwhile are newer: the list only adds calls not known yet.
      for (const view of list) {
        if (!this.#gone.has(view.call) && !this.find(view.call) && view.state !== 'ended') this.#upsert(view);
      }
    } catch (error) {
      this.status.error(error);
    }
  }

  /** Apply one call event (exported for tests). */
  apply(event: CallEvent): void {
    switch (event.type) {
      case 'callChanged':
        if (event.view.state === 'ended') this.#ended(event.view);
        else if (!this.#gone.has(event.view.call)) this.#upsert(event.view);
        break;
      case 'missedCall': {
        const who = event.fromName ?? event.from;
        const reason = event.reason.trim().replace(/\.$/, '');
        this.status.info(reason ? `Missed call from ${who} — ${reason}.` : `Missed call from ${who}.`);
        break;
      }
      case 'transferProgress': {
        const ok = event.code >= 200 && event.code < 300;
        if (!event.done) {
          this.status.progress(`Transferring… ${event.reason || event.code}`.trim());
        } else if (ok) {
          this.status.info('Call transferred.');
          // Blind transfer: once the other side reached the target, we leave the call.
          if (this.find(event.call)) void this.hangup(event.call);
        } else {
          this.status.error({ code: 'transfer_failed', message: `The transfer did not go through: ${event.reason || event.code}.` });
        }
        break;
      }
      case 'callStats':
        if (this.find(event.stats.call)) this.stats = { ...this.stats, [event.stats.call]: event.stats };
        break;
      case 'callWarnings': {
        if (!this.find(event.call)) break;
        const { [event.call]: _old, ...rest } = this.warnings;
        this.warnings = event.warnings.length > 0 ? { ...rest, [event.call]: event.warnings } : rest;
        break;
      }
      case 'callReconnecting': {
        if (!this.find(event.call)) break;
        const { [event.call]: _old, ...rest } = this.reconnecting;
        this.reconnecting = event.since === null ? rest : { ...rest, [event.call]: event.since };
        this.clock = this.#now();
        break;
      }
      case 'conferenceChanged':
        this.conference = event.calls;
        break;
      case 'dtmfReceived':
        break;
    }
  }

  #upsert(view: CallView): void {
    const index = this.calls.findIndex((c) => c.call === view.call);
    if (index >= 0) this.calls[index] = view;
    else this.calls = [...this.calls, view];
    if (view.state !== 'incoming' && this.answered[view.call]) {
      const { [view.call]: _done, ...rest } = this.answered;
      this.answered = rest;
    }
    if (typeof view.muted === 'boolean' && this.muted[view.call] !== view.muted) {
      this.muted = { ...this.muted, [view.call]: view.muted };
    }
    if (typeof view.connectedAt === 'number' && this.connectedAt[view.call] === undefined) {
      this.connectedAt = { ...this.connectedAt, [view.call]: view.connectedAt };
      this.clock = this.#now();
    } else if (isConnected(view) && this.connectedAt[view.call] === undefined) {
      this.connectedAt = { ...this.connectedAt, [view.call]: this.#now() };
      this.clock = this.#now();
    }
    this.#syncTicker();
  }

  #ended(view: CallView): void {
    const id = view.call;
    // Shown when it was on screen, or when nothing else was (a call that failed at once).
    const onScreen = this.screen === null || this.incoming?.call === id || (this.screen === 'call' && this.current?.call === id);
    this.#gone.add(id);
    this.calls = this.calls.filter((c) => c.call !== id);
    const forget = <T>(record: Record<string, T>): Record<string, T> => {
      const { [id]: _gone, ...rest } = record;
      return rest;
    };
    this.muted = forget(this.muted);
    this.sentDigits = forget(this.sentDigits);
    this.connectedAt = forget(this.connectedAt);
    this.answered = forget(this.answered);
    this.pending = forget(this.pending);
    this.stats = forget(this.stats);
    this.warnings = forget(this.warnings);
    this.reconnecting = forget(this.reconnecting);
    this.conference = this.conference.filter((c) => c !== id);
    if (this.selected === id) this.selected = null;
    if (this.calls.length === 0) this.adding = false;
    this.#syncTicker();
    if (onScreen) {
      this.ended = view;
      clearTimeout(this.#endedTimer);
      this.#endedTimer = setTimeout(() => {
        if (this.ended?.call === id) this.ended = null;
      }, this.#endedMs);
    } else {
      this.status.info(`${remoteTitle(view)}: ${endedWords(view).replace(/^Call ended/, 'call ended')}.`);
    }
  }

  /** Leave the "Call ended" view now. */
  dismissEnded(): void {
    clearTimeout(this.#endedTimer);
    this.ended = null;
  }

  #syncTicker(): void {
    const connected = this.calls.some(isConnected);
    if (connected && this.#ticker === undefined) {
      this.#ticker = setInterval(() => {
        this.clock = this.#now();
      }, 1000);
    } else if (!connected) {
      this.#stopTicker();
    }
  }

  #stopTicker(): void {
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    this.#ticker = undefined;
  }

  // ---- actions ----------------------------------------------------------------------

  /** `dial` succeeded: show that call (its first event may still be on the way). */
  dialed(id: string, target: string): void {
    if (this.#gone.has(id)) return;
    if (!this.find(id)) {
      this.#upsert({ call: id, account: '', remote: target, remoteName: null, outgoing: true, state: 'dialing' });
    }
    this.ended = null;
    this.selected = id;
    this.adding = false;
  }

  /** "Add call": back to the dialer, the calls going on (the engine holds them when we dial). */
  addCall(): void {
    if (this.current) this.adding = true;
  }

  /** Back from the dialer to the calls. */
  backToCall(): void {
    this.adding = false;
  }

  /** Mix every connected call into the local conference. */
  merge(): Promise<boolean> {
    if (!this.canMerge) return Promise.resolve(false);
    const ids = [...new Set([...this.conference, ...this.mergeable.map((c) => c.call)])];
    return this.#conference(async () => {
      this.conference = await this.backend.mergeCalls(ids);
    });
  }

  /** Take `id` out of the conference (the engine holds it; the others talk on). */
  split(id: string): Promise<boolean> {
    return this.#conference(async () => {
      await this.backend.splitCall(id);
      // The engine's conferenceChanged says who is left; until then, not this one.
      const left = this.conference.filter((c) => c !== id);
      this.conference = left.length >= 2 ? left : [];
    });
  }

  /** One merge or split at a time, its error in the status line; true when it went through. */
  async #conference(command: () => Promise<void>): Promise<boolean> {
    if (this.conferenceBusy) return false;
    this.conferenceBusy = true;
    try {
      await command();
      return true;
    } catch (error) {
      this.status.error(error);
      return false;
    } finally {
      this.conferenceBusy = false;
    }
  }


  /** Show another call on the in-call screen. */
  select(id: string): void {
    if (this.find(id)) this.selected = id;
  }

  /** Run one action for `id`, its error in the status line; true when it went through. */
  async #run(id: string, action: CallAction, command: () => Promise<void>): Promise<boolean> {
    if (this.pending[id] !== undefined) return false;
    this.pending = { ...this.pending, [id]: action };
    try {
      await command();
      return true;
    } catch (error) {
      this.status.error(error);
      return false;
    } finally {
      if (this.pending[id] === action) {
        const { [id]: _done, ...rest } = this.pending;
        this.pending = rest;
      }
    }
  }

  async answer(id: string): Promise<boolean> {
    const ok = await this.#run(id, 'answer', () => this.backend.answer(id));
    if (ok) {
      if (this.find(id)?.state === 'incoming') this.answered = { ...this.answered, [id]: true };
      this.selected = id;
      this.adding = false;
      this.dismissEnded();
    }
    return ok;
  }

  /** Put the calls we are talking in on hold, then answer `id`. */
  async answerAndHold(id: string): Promise<boolean> {
    for (const other of this.othersTalking(id)) {
      if (!(await this.#run(other.call, 'hold', () => this.backend.hold(other.call, true)))) return false;
    }
    return this.answer(id);
  }

  decline(id: string): Promise<boolean> {
    return this.#run(id, 'decline', () => this.backend.reject(id, false));
  }

  hangup(id: string): Promise<boolean> {
    return this.#run(id, 'hangup', () => this.backend.hangup(id));
  }

  /** Hold when talking, resume when we held it. */
  toggleHold(id: string): Promise<boolean> {
    const view = this.find(id);
    const on = !(view?.state === 'held' && view.by_me);
    return this.#run(id, 'hold', () => this.backend.hold(id, on));
  }

  async toggleMute(id: string): Promise<boolean> {
    if (this.pending[id] !== undefined) return false;
    const on = !this.muted[id];
    this.muted = { ...this.muted, [id]: on };
    const ok = await this.#run(id, 'mute', () => this.backend.mute(id, on));
    if (!ok && this.find(id)) this.muted = { ...this.muted, [id]: !on };
    return ok;
  }

  /** Send touch tones, strictly in the order they were pressed. */
  sendDtmf(id: string, digits: string): Promise<void> {
    this.sentDigits = { ...this.sentDigits, [id]: ((this.sentDigits[id] ?? '') + digits).slice(-24) };
    const next = this.#dtmfQueue
      .then(() => this.backend.sendDtmf(id, digits))
      .catch((error: unknown) => this.status.error(error));
    this.#dtmfQueue = next;
    return next;
  }

  /** Blind transfer: the other side is asked to call `target`. */
  async transfer(id: string, target: string): Promise<boolean> {
    const t = target.trim();
    if (t === '') {
      this.status.info('Type the number or address to transfer to.');
      return false;
    }
    this.status.progress(`Transferring to ${t}…`);
    return this.#run(id, 'transfer', () => this.backend.transfer(id, t));
  }
}
