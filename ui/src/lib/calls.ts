// Calls, the pure part (unit-tested): the engine's call events checked,
// call states in words, the timer's text, who is on the line.

import { toCallView } from './backend';
import type { CallProblem, CallStats, CallView, CallWarning } from './types';

/** The `engine` events about calls, checked. */
export type CallEvent =
  | { type: 'callChanged'; view: CallView }
  | { type: 'dtmfReceived'; call: string; digit: string }
  | { type: 'missedCall'; account: string; from: string; fromName: string | null; reason: string }
  | { type: 'transferProgress'; call: string; code: number; reason: string; done: boolean }
  | { type: 'callStats'; stats: CallStats }
  | { type: 'callWarnings'; call: string; warnings: CallWarning[] }
  | { type: 'callReconnecting'; call: string; since: number | null }
  | { type: 'conferenceChanged'; calls: string[] };

/** A call event out of an `engine` payload, or null (not about calls, or malformed). */
export function parseCallEvent(payload: unknown): CallEvent | null {
  if (payload === null || typeof payload !== 'object') return null;
  const r = payload as Record<string, unknown>;
  switch (r.type) {
    case 'callChanged': {
      const view = toCallView(r);
      return view ? { type: 'callChanged', view } : null;
    }
    case 'dtmfReceived':
      return typeof r.call === 'string' && typeof r.digit === 'string'
        ? { type: 'dtmfReceived', call: r.call, digit: r.digit }
        : null;
    case 'missedCall':
      if (typeof r.account !== 'string' || typeof r.from !== 'string') return null;
      return {
        type: 'missedCall',
        account: r.account,
        from: r.from,
        fromName: typeof r.from_name === 'string' && r.from_name !== '' ? r.from_name : null,
        reason: typeof r.reason === 'string' ? r.reason : '',
      };
    case 'transferProgress':
      if (typeof r.call !== 'string' || typeof r.code !== 'number' || typeof r.done !== 'boolean') return null;
      return {
        type: 'transferProgress',
        call: r.call,
        code: r.code,
        reason: typeof r.reason === 'string' ? r.reason : '',
        done: r.done,
      };
    case 'callStats': {
      const stats = toCallStats(r);
      return stats ? { type: 'callStats', stats } : null;
    }
    case 'callWarnings': {
      if (typeof r.call !== 'string' || !Array.isArray(r.warnings)) return null;
      const warnings = r.warnings.map(toWarning);
      if (!warnings.every((w) => w !== null)) return null;
      return { type: 'callWarnings', call: r.call, warnings: warnings as CallWarning[] };
    }
    case 'callReconnecting':
      if (typeof r.call !== 'string' || !(r.since === null || r.since === undefined || isNumber(r.since))) return null;
      return { type: 'callReconnecting', call: r.call, since: isNumber(r.since) ? r.since : null };
    case 'conferenceChanged':
      if (!Array.isArray(r.calls) || !r.calls.every((c) => typeof c === 'string')) return null;
      return { type: 'conferenceChanged', calls: r.calls as string[] };
    default:
      return null;
  }
}

/** The call is still going (not ended). */
export function isLive(view: CallView): boolean {
  return view.state !== 'ended';
}

/** Connected to the other side (the timer runs). */
export function isConnected(view: CallView): boolean {
  return view.state === 'active' || view.state === 'held';
}

/** The state line of the in-call screen. */
export function stateWords(view: CallView): string {
  switch (view.state) {
    case 'dialing':
      return 'Calling…';
    case 'ringing':
      return 'Ringing…';
    case 'early_media':
      return 'Connecting…';
    case 'incoming':
      return 'Incoming call';
    case 'active':
      return 'Connected';
    case 'held':
      return view.by_me ? 'On hold' : 'They put you on hold';
    case 'ended':
      return endedWords(view);
  }
}

/**
 * "Call ended — <reason>": the engine's reason in words ("declined", "busy"),
 * without a final full stop; "hung up" says who did.
 */
export function endedWords(view: CallView): string {
  if (view.state !== 'ended') return 'Call ended';
  let reason = view.reason.trim().replace(/\.$/, '');
  if (reason.toLowerCase() === 'hung up') {
    reason = view.by === 'local' ? 'you hung up' : view.by === 'remote' ? 'they hung up' : 'hung up';
  }
  return reason === '' ? 'Call ended' : `Call ended — ${reason}`;
}

/** The other side's name for headings: the display name, else the number or address. */
export function remoteTitle(view: Pick<CallView, 'remote' | 'remoteName'>): string {
  const name = view.remoteName?.trim();
  return name ? name : view.remote;
}

/** The number under the name (null when the name already is the number). */
export function remoteDetail(view: Pick<CallView, 'remote' | 'remoteName'>): string | null {
  const name = view.remoteName?.trim();
  return name && name !== view.remote ? view.remote : null;
}

/** One or two letters for the avatar, or '' for a number (the avatar shows an icon). */
export function initials(view: Pick<CallView, 'remote' | 'remoteName'>): string {
  const source = view.remoteName?.trim() || view.remote.split('@')[0] || '';
  const words = source.split(/[\s._-]+/).filter((w) => /^\p{L}/u.test(w));
  if (words.length === 0) return '';
  const first = words[0]?.[0] ?? '';
  const last = words.length > 1 ? (words[words.length - 1]?.[0] ?? '') : '';
  return (first + last).toUpperCase();
}

/** Seconds as the call timer shows them: 0:07, 12:34, 1:02:03. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${minutes}:${two(seconds)}`;
}

/** The duration in words for screen readers: "1 minute 5 seconds". */
export function durationWords(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (s >= 3600) parts.push(unit(Math.floor(s / 3600), 'hour'));
  if (s >= 60) parts.push(unit(Math.floor((s % 3600) / 60), 'minute'));
  parts.push(unit(s % 60, 'second'));
  return parts.join(' ');
}

/** Keys of the in-call keypad (touch tones). */
export const DTMF_KEYS: readonly { key: string; letters: string; label: string; testId: string }[] = [
  { key: '1', letters: '', label: '1', testId: 'dtmf-key-1' },
  { key: '2', letters: 'ABC', label: '2', testId: 'dtmf-key-2' },
  { key: '3', letters: 'DEF', label: '3', testId: 'dtmf-key-3' },
  { key: '4', letters: 'GHI', label: '4', testId: 'dtmf-key-4' },
  { key: '5', letters: 'JKL', label: '5', testId: 'dtmf-key-5' },
  { key: '6', letters: 'MNO', label: '6', testId: 'dtmf-key-6' },
  { key: '7', letters: 'PQRS', label: '7', testId: 'dtmf-key-7' },
  { key: '8', letters: 'TUV', label: '8', testId: 'dtmf-key-8' },
  { key: '9', letters: 'WXYZ', label: '9', testId: 'dtmf-key-9' },
  { key: '*', letters: '', label: 'Star', testId: 'dtmf-key-star' },
  { key: '0', letters: '', label: '0', testId: 'dtmf-key-0' },
  { key: '#', letters: '', label: 'Hash', testId: 'dtmf-key-hash' },
];

/** A typed key that is a touch tone (digits, `*`, `#`), or null. */
export function dtmfDigit(key: string): string | null {
  return /^[0-9*#]$/.test(key) ? key : null;
}

// ---- call quality -------------------------------------------------------------

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const numberOrNull = (v: unknown): number | null | undefined => (v === null || v === undefined ? null : isNumber(v) ? v : undefined);

/** A `callStats` payload checked (null when malformed). */
export function toCallStats(r: Record<string, unknown>): CallStats | null {
  const jitterMs = numberOrNull(r.jitterMs);
  const rttMs = numberOrNull(r.rttMs);
  const mos = numberOrNull(r.mos);
  if (
    typeof r.call !== 'string' ||
    !(r.codec === null || r.codec === undefined || typeof r.codec === 'string') ||
    ![r.bitrateKbps, r.packetsSent, r.packetsReceived, r.packetsLost, r.lossPercent].every(isNumber) ||
    jitterMs === undefined ||
    rttMs === undefined ||
    mos === undefined
  ) {
    return null;
  }
  return {
    call: r.call,
    codec: typeof r.codec === 'string' ? r.codec : null,
    bitrateKbps: r.bitrateKbps as number,
    packetsSent: r.packetsSent as number,
    packetsReceived: r.packetsReceived as number,
    packetsLost: r.packetsLost as number,
    lossPercent: r.lossPercent as number,
    jitterMs,
    rttMs,
    mos,
  };
}

const PROBLEMS: readonly CallProblem[] = ['loss', 'jitter', 'delay', 'poorQuality'];

function toWarning(value: unknown): CallWarning | null {
  if (value === null || typeof value !== 'object') return null;
  const w = value as Record<string, unknown>;
  if (!PROBLEMS.includes(w.problem as CallProblem) || typeof w.message !== 'string') return null;
  return { problem: w.problem as CallProblem, message: w.message };
}

/** Good, fair or poor (from the MOS), or unknown before a codec is known. */
export type QualityLevel = 'good' | 'fair' | 'poor' | 'unknown';

/** Below this MOS the engine warns of poor quality (crates/phone/src/coaching.rs). */
export const POOR_MOS = 3.5;
/** From this MOS on, a call sounds good (toll quality). */
export const GOOD_MOS = 4.0;

export function qualityLevel(stats: Pick<CallStats, 'mos'> | null | undefined): QualityLevel {
  const mos = stats?.mos;
  if (mos === null || mos === undefined) return 'unknown';
  if (mos < POOR_MOS) return 'poor';
  return mos < GOOD_MOS ? 'fair' : 'good';
}

/** Bars lit for a level (of three). */
export function qualityBars(level: QualityLevel): number {
  return { good: 3, fair: 2, poor: 1, unknown: 0 }[level];
}

export function qualityWords(level: QualityLevel): string {
  return { good: 'Good', fair: 'Fair', poor: 'Poor', unknown: 'Measuring' }[level];
}

/** The figures behind the indicator, one line each ("Jitter 12 ms"). */
export function qualityDetails(stats: CallStats): string[] {
  const ms = (v: number | null) => (v === null ? '—' : `${Math.round(v)} ms`);
  return [
    `MOS ${stats.mos === null ? '—' : stats.mos.toFixed(1)}`,
    `Jitter ${ms(stats.jitterMs)}`,
    `Loss ${stats.lossPercent.toFixed(stats.lossPercent > 0 && stats.lossPercent < 10 ? 1 : 0)} %`,
    `Round trip ${ms(stats.rttMs)}`,
    `Codec ${stats.codec ?? '—'}`,
  ];
}

/** The indicator in one sentence, for screen readers and the tooltip. */
export function qualitySummary(stats: CallStats | null | undefined): string {
  const level = qualityLevel(stats);
  if (!stats || level === 'unknown') return 'Call quality: measuring';
  return `Call quality ${qualityWords(level).toLowerCase()}: ${qualityDetails(stats).join(', ')}`;
}

/** "Reconnecting… 5 s": whole seconds since the media path was lost. */
export function reconnectingWords(since: number, now: number): string {
  return `Reconnecting… ${Math.max(0, Math.floor((now - since) / 1000))} s`;
}
