// App-wide state: what the engine told us at start, and the actions that are
// not tied to one screen (echo test).

import type { Backend } from './backend';
import type { MicrophoneModel } from './microphone.svelte';
import type { StatusLine } from './status.svelte';
import type { AppInfo } from './types';

export class AppModel {
  info = $state<AppInfo | null>(null);
  echoTestPending = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;
  /** The microphone's first-use explanation and state (null: not asked, as in older tests). */
  readonly microphone: MicrophoneModel | null;

  constructor(backend: Backend, status: StatusLine, microphone: MicrophoneModel | null = null) {
    this.backend = backend;
    this.status = status;
    this.microphone = microphone;
  }

  /** True once app_info said no account is configured. */
  get needsAccount(): boolean {
    return this.info !== null && !this.info.accountsConfigured;
  }

  async start(): Promise<void> {
    try {
      this.info = await this.backend.appInfo();
    } catch (error) {
      this.status.error(error);
    }
  }

  async startEchoTest(): Promise<void> {
    if (this.echoTestPending) return;
    this.echoTestPending = true;
    try {
      // The first time, the explanation comes before the microphone opens.
      if (this.microphone && !(await this.microphone.permit('echo'))) {
        this.status.info('The echo test did not start: your microphone stays off.');
        return;
      }
      this.status.progress('Starting the echo test…');
      const started = await this.backend.startEchoTest();
      this.status.info(started.message);
    } catch (error) {
      this.status.error(error);
    } finally {
      this.echoTestPending = false;
    }
  }

  /** The account list changed: an account exists (or none is left). */
  setAccountsConfigured(configured: boolean): void {
    if (this.info && this.info.accountsConfigured !== configured) {
      this.info = { ...this.info, accountsConfigured: configured };
    }
  }
}
