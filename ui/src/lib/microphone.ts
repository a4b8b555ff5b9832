// Pure: when the microphone is open, what the header says about it, and the
// first-use explanation in words. The engine opens the microphone for a call
// when we dial or answer it and closes it when the call ends (a held call keeps
// it); the echo test and Settings → Audio's meter open it while they run.

import type { CallView } from './types';

/** What has the microphone open. */
export type MicUse = 'call' | 'echo' | 'meter';

/**
 * What the explanation is shown for: a call that has the microphone ('call'), a call
 * ringing in ('incoming': answering opens it), or before the echo test or the meter open it.
 */
export type MicPurpose = 'call' | 'incoming' | 'echo' | 'meter';

/** The first use waits for the explanation (echo test, meter); a call never does. */
export function waitsForConsent(purpose: MicPurpose): boolean {
  return purpose === 'echo' || purpose === 'meter';
}

/**
 * Whether `view` has our microphone open: from the dial (ours) or the answer
 * (`answered`: answered here, even while the engine still reports `incoming`)
 * until it ends.
 */
export function callHasMicrophone(view: CallView, answered = false): boolean {
  if (view.state === 'ended') return false;
  if (view.state === 'incoming') return answered;
  return true;
}

/** What has the microphone open now, in a fixed order. */
export function microphoneUses(now: { calls: number; echoTest: boolean; meter: boolean }): MicUse[] {
  const uses: MicUse[] = [];
  if (now.calls > 0) uses.push('call');
  if (now.echoTest) uses.push('echo');
  if (now.meter) uses.push('meter');
  return uses;
}

const USE_WORDS: Record<MicUse, string> = {
  call: 'a call',
  echo: 'the echo test',
  meter: 'the level meter',
};

/** The header's sentence ("Microphone on for a call"), null when it is closed. */
export function indicatorWords(uses: readonly MicUse[]): string | null {
  if (uses.length === 0) return null;
  const words = uses.map((u) => USE_WORDS[u]);
  const list = words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
  return `Microphone on for ${list}`;
}

/** The explanation: a heading, why now, and the rules that always hold. */
export interface MicNoticeText {
  title: string;
  lead: string;
  rules: string;
  /** The buttons: `accept` always; `decline` only where the use waits for the answer. */
  accept: string;
  decline: string | null;
}

const LEADS: Record<MicPurpose, string> = {
  call: 'Your microphone is on for this call, so the other side hears you.',
  incoming: 'Answering turns your microphone on, so the caller hears you.',
  echo: 'The echo test records your voice and plays it back a second later, so you hear how you sound.',
  meter: 'The level meter in Settings → Audio shows how loud your microphone is.',
};

export function noticeText(purpose: MicPurpose): MicNoticeText {
  const waits = waitsForConsent(purpose);
  return {
    title: 'Why Homeline uses your microphone',
    lead: LEADS[purpose],
    rules:
      'Homeline opens it only during calls, the echo test and the level meter, never while idle ("Mic on" at the top shows it). Your system may ask you to allow it.',
    accept: waits ? 'Continue' : 'Got it',
    decline: waits ? 'Not now' : null,
  };
}
