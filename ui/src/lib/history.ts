// Pure: call history rows in words (time, duration or reason, direction).

import { formatDuration } from './calls';
import type { HistoryEntry, HistoryFilter } from './types';

export const HISTORY_FILTERS: ReadonlyArray<{ id: HistoryFilter; label: string }> = [
  { id: 'all', label: 'All' },
  { id: 'missed', label: 'Missed' },
  { id: 'incoming', label: 'Incoming' },
  { id: 'outgoing', label: 'Outgoing' },
];

export type HistoryKind = 'missed' | 'incoming' | 'outgoing';

export function historyKind(entry: HistoryEntry): HistoryKind {
  return entry.missed ? 'missed' : entry.direction === 'out' ? 'outgoing' : 'incoming';
}

/** For screen readers and the icon's title. */
export function kindWords(entry: HistoryEntry): string {
  const kind = historyKind(entry);
  return kind === 'missed' ? 'Missed call' : kind === 'outgoing' ? 'Outgoing call' : 'Incoming call';
}

/** The talk time ("4:23") when the call connected, else why it ended ("busy"). */
export function durationOrReason(entry: HistoryEntry): string {
  if (entry.connectedAt !== null) return formatDuration((entry.endedAt - entry.connectedAt) / 1000);
  const reason = entry.endReason.trim().replace(/\.$/, '');
  if (reason !== '') return reason;
  return entry.missed ? 'missed' : 'not answered';
}

const sameDay = (a: Date, b: Date) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

/** "14:05" today, "Yesterday 14:05", else "3 Mar 14:05" (with the year when it is not this year). */
export function historyTime(at: number, now: number = Date.now()): string {
  const when = new Date(at);
  const today = new Date(now);
  const time = `${String(when.getHours()).padStart(2, '0')}:${String(when.getMinutes()).padStart(2, '0')}`;
  if (sameDay(when, today)) return time;
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (sameDay(when, yesterday)) return `Yesterday ${time}`;
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][when.getMonth()];
  const year = when.getFullYear() === today.getFullYear() ? '' : ` ${when.getFullYear()}`;
  return `${when.getDate()} ${month}${year} ${time}`;
}
