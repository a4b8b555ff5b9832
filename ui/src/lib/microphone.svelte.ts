// The microphone, app-wide: whether the echo test or Settings' meter has it open
// (their engine events, asked again at start so a reopened window agrees), and the
// first-use explanation. Calls are counted by the caller (CallsModel knows them).
//
// The explanation is shown once: the echo test and the meter wait for "Continue"
// before they open the microphone ("Not now": they do not); a call never waits
// (answering late loses the call, and dialing is the user's own request for the
// microphone): the explanation shows beside it. It counts as given after
// "Continue" / "Got it", or once a call that had the microphone ends while it
// was on screen. It is remembered in the desktop preferences (`micExplained`).

import type { Backend, Unlisten } from './backend';
import type { MicPurpose } from './microphone';
import type { PrefsModel } from './prefs.svelte';
import { ENGINE_EVENT } from './types';

export class MicrophoneModel {
  /** The echo test has the microphone open. */
  echoTest = $state(false);
  /** The device Settings' meter has open (null: closed). */
  meter = $state<string | null>(null);
  /** The explanation on screen, and what for (null: none). */
  notice = $state<MicPurpose | null>(null);

  readonly backend: Backend;
  readonly prefs: PrefsModel;
  /** Explained in this run (also when saving it failed). */
  #explainedNow = $state(false);
  /** Uses waiting for the answer ("Continue": true). */
  #waiting: Array<{ purpose: MicPurpose; resolve: (ok: boolean) => void }> = [];
  /** A call had the microphone while the explanation was shown. */
  #shownInCall = false;
  #ready: Promise<void> | null = null;
  /** An event said so before `start`'s questions were answered (it is newer). */
  #heard = { meter: false, echo: false };

  constructor(backend: Backend, prefs: PrefsModel) {
    this.backend = backend;
    this.prefs = prefs;
  }

  /** Known once `start` read the preferences: was it explained before? */
  get explained(): boolean {
    return this.#explainedNow || this.prefs.prefs?.micExplained === true;
  }

  /** Read the preference and what has the microphone now (older shells: nothing). */
  start(): Promise<void> {
    this.#ready ??= (async () => {
      const [, meter, echo] = await Promise.all([
        this.prefs.loadPrefs(),
        this.backend.micMeterState().catch(() => null),
        this.backend.echoTestRunning().catch(() => false),
      ]);
      // Events that came meanwhile are newer.
      if (!this.#heard.meter) this.meter = meter?.device ?? null;
      if (!this.#heard.echo) this.echoTest = echo;
    })();
    return this.#ready;
  }

  /** Follow the engine's `echoTest` and `microphoneMeter` events; resolves to the unsubscribe function. */
  follow(): Promise<Unlisten> {
    return this.backend.onEvent<unknown>(ENGINE_EVENT, (payload) => this.apply(payload));
  }

  /** One engine event (exposed for tests). */
  apply(payload: unknown): void {
    if (payload === null || typeof payload !== 'object') return;
    const r = payload as Record<string, unknown>;
    if (r.type === 'echoTest' && typeof r.running === 'boolean') {
      this.#heard.echo = true;
      this.echoTest = r.running;
    } else if (r.type === 'microphoneMeter' && typeof r.open === 'boolean') {
      this.#heard.meter = true;
      this.meter = r.open ? (typeof r.device === 'string' && r.device !== '' ? r.device : 'microphone') : null;
    }
  }

  /**
   * Before the echo test or the meter opens the microphone: true at once when it was
   * explained before; else the explanation is shown and this waits for the answer.
   */
  async permit(purpose: 'echo' | 'meter'): Promise<boolean> {
    await this.start();
    if (this.explained) return true;
    // A call's explanation on screen already says it all ("Got it" answers this too).
    if (this.notice !== 'call') this.notice = purpose;
    return new Promise<boolean>((resolve) => this.#waiting.push({ purpose, resolve }));
  }

  /** That use no longer wants the microphone (Settings closed): its question goes. */
  withdraw(purpose: 'echo' | 'meter'): void {
    const mine = this.#waiting.filter((w) => w.purpose === purpose);
    if (mine.length === 0) return;
    this.#waiting = this.#waiting.filter((w) => w.purpose !== purpose);
    mine.forEach((w) => w.resolve(false));
    if (this.notice === purpose) this.notice = this.#waiting[this.#waiting.length - 1]?.purpose ?? null;
  }

  /** "Continue" or "Got it": explained; what waited opens the microphone. */
  async accept(): Promise<void> {
    this.notice = null;
    this.#explainedNow = true;
    this.#answer(true);
    await this.#remember();
  }

  /** "Not now": nothing opens the microphone; the explanation comes back next time. */
  decline(): void {
    this.notice = null;
    this.#answer(false);
  }

  /**
   * The calls changed: `withMicrophone` calls have it open, `ringing` rings in.
   * The explanation shows beside them (never in their way) until it was given.
   */
  observeCalls(withMicrophone: number, ringing: boolean): void {
    if (this.explained) {
      if (this.notice === 'call' || this.notice === 'incoming') this.notice = null;
      return;
    }
    if (withMicrophone > 0) {
      this.#shownInCall = true;
      if (this.notice !== 'call') {
        // The echo test or the meter waited: a call has the microphone now, they do not start.
        this.#answer(false);
        this.notice = 'call';
      }
    } else if (ringing) {
      if (this.notice === null) this.notice = 'incoming';
    } else if (this.notice === 'call' || this.notice === 'incoming') {
      // The call is over: it was in front of the user while the microphone was on.
      const given = this.#shownInCall;
      this.notice = null;
      this.#shownInCall = false;
      if (given) {
        this.#explainedNow = true;
        void this.#remember();
      }
    }
  }

  #answer(ok: boolean): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    waiting.forEach((w) => w.resolve(ok));
  }

  /** Saved in the desktop preferences (quietly kept for this run when that fails). */
  async #remember(): Promise<void> {
    if (!(await this.prefs.loadPrefs()) || this.prefs.prefs?.micExplained) return;
    await this.prefs.set('micExplained', true);
  }
}
