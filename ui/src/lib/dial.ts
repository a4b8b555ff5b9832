// Placing a call from any screen (dialer, history, contacts): "Calling …" in
// the status line while the engine works, its error in words if it fails.

import type { Backend } from './backend';
import type { StatusLine } from './status.svelte';

/** Dial `target`; resolves to the call id, or null (the reason is in the status line). */
export async function dialWithProgress(backend: Backend, status: StatusLine, target: string, who = target): Promise<string | null> {
  const progress = `Calling ${who}…`;
  status.progress(progress);
  try {
    const call = await backend.dial(target);
    if (status.current?.text === progress) status.clear();
    return call;
  } catch (error) {
    status.error(error);
    return null;
  }
}
