// The one-line status shown under the current screen (role="status").

import { toBackendError } from './backend';

export type StatusKind = 'info' | 'progress' | 'error';

export interface Status {
  kind: StatusKind;
  text: string;
}

export class StatusLine {
  current = $state<Status | null>(null);

  info(text: string): void {
    this.current = { kind: 'info', text };
  }

  progress(text: string): void {
    this.current = { kind: 'progress', text };
  }

  /** Show a failed command's message (any rejection value is accepted). */
  error(error: unknown): void {
    this.current = { kind: 'error', text: toBackendError(error).message };
  }

  clear(): void {
    this.current = null;
  }
}
