// App-wide state: what the engine told us at start, and the actions that are
// not tied to one screen (echo test).

import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';
import type { AppInfo } from './types';

export class AppModel {
  info = $state<AppInfo | null>(null);
  echoTestPending = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;

  constructor(backend: Backend, status: StatusLine) {
    this.backend = backend;
    this.status = status;
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
    this.status.progress('Starting the echo test…');
    try {
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
