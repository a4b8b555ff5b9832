// Pure helpers for the contacts screen: the edit form and its checks, what a
// row says, import results in words. The engine re-checks everything.

import type { Contact, ContactInput, ImportReport, PhoneLabel } from './types';

export const PHONE_LABELS: ReadonlyArray<{ id: PhoneLabel; label: string }> = [
  { id: 'mobile', label: 'Mobile' },
  { id: 'work', label: 'Work' },
  { id: 'home', label: 'Home' },
  { id: 'fax', label: 'Fax' },
  { id: 'other', label: 'Other' },
];

/** Limits the engine enforces (crates/store/src/contacts.rs), checked early for a nicer message. */
export const MAX_NAME = 200;
export const MAX_NUMBERS = 20;
export const MAX_NUMBER = 200;

/** The edit form: plain strings, one row per number. */
export interface ContactForm {
  name: string;
  organization: string;
  email: string;
  numbers: Array<{ label: PhoneLabel; number: string }>;
  favorite: boolean;
}

export function emptyForm(): ContactForm {
  return { name: '', organization: '', email: '', numbers: [{ label: 'mobile', number: '' }], favorite: false };
}

export function formFromContact(c: ContactInput): ContactForm {
  return {
    name: c.name,
    organization: c.organization ?? '',
    email: c.email ?? '',
    numbers: c.numbers.length > 0 ? c.numbers.map((n) => ({ ...n })) : [{ label: 'mobile', number: '' }],
    favorite: c.favorite,
  };
}

/** "Add to contacts" from a call: its name (when it sent one) and number. */
export function formFromCall(remote: string, remoteName: string | null): ContactForm {
  const name = remoteName?.trim() ?? '';
  return { ...emptyForm(), name: name === remote ? '' : name, numbers: [{ label: 'other', number: remote }] };
}

/** What the form would save: trimmed, empty numbers left out. */
export function formToInput(form: ContactForm): ContactInput {
  const orNull = (s: string) => (s.trim() === '' ? null : s.trim());
  return {
    name: form.name.trim(),
    organization: orNull(form.organization),
    email: orNull(form.email),
    numbers: form.numbers.map((n) => ({ label: n.label, number: n.number.trim() })).filter((n) => n.number !== ''),
    favorite: form.favorite,
  };
}

/** The first problem with the form in words, or null when it can be saved. */
export function checkForm(form: ContactForm): string | null {
  const input = formToInput(form);
  if (input.name === '' && input.numbers.length === 0) return 'A contact needs a name or a number.';
  if (input.name.length > MAX_NAME) return `The name is too long (${MAX_NAME} characters at most).`;
  if (input.numbers.length > MAX_NUMBERS) return `A contact has at most ${MAX_NUMBERS} numbers.`;
  const bad = input.numbers.find((n) => n.number.length > MAX_NUMBER || !/[\p{L}\p{N}]/u.test(n.number));
  if (bad) return `“${bad.number.slice(0, 40)}” is not a number or address that can be called.`;
  return null;
}

/** The number a click on the row calls (the first one), or null. */
export function primaryNumber(c: Pick<Contact, 'numbers'>): string | null {
  return c.numbers[0]?.number ?? null;
}

export function labelWords(label: PhoneLabel): string {
  return PHONE_LABELS.find((l) => l.id === label)?.label ?? 'Other';
}

/** The line under a contact's name: its first number (with its kind) and the organisation. */
export function contactDetail(c: Pick<Contact, 'numbers' | 'organization'>): string {
  const first = c.numbers[0];
  const parts = [first ? `${labelWords(first.label)} ${first.number}` : 'No number', c.organization ?? ''];
  return parts.filter((p) => p !== '').join(' · ');
}

export function importWords(r: ImportReport): string {
  const added = r.added === 1 ? '1 contact' : `${r.added} contacts`;
  if (r.skipped === 0) return `Imported ${added}.`;
  const skipped = r.skipped === 1 ? '1 card' : `${r.skipped} cards`;
  return `Imported ${added}; ${skipped} without a name or number left out.`;
}

/** `homeline-contacts-2026-11-25.vcf` */
export function exportFileName(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `homeline-contacts-${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}.vcf`;
}

/** Largest file the import reads (the engine refuses larger ones too). */
export const MAX_IMPORT_BYTES = 8 * 1024 * 1024;
