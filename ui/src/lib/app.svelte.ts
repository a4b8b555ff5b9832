// App-wide state: what the engine told us at start, and the actions that are
// not tied to one screen (echo test, account setup).

import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';
import type { AppInfo } from './types';

export class AppModel {
  info = $state<AppInfo | null>(null);
  echoTestPending = $state(false);
  setupPending = $state(false);

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

  async openAccountSetup(): Promise<void> {
    if (this.setupPending) return;
    this.setupPending = true;
    try {
      await this.backend.openAccountSetup();
      this.status.info('Account setup arrives soon.');
    } catch (error) {
      this.status.error(error);
    } finally {
      this.setupPending = false;
    }
  }
}
