// The browser preview's contacts (part of backend-stub.ts): kept in memory,
// with a deliberately small vCard reader (FN/N and TEL only) — the real
// parser is crates/store/src/vcard.rs.

import type { Contact, ContactInput, PhoneLabel } from './types';

type Reply = { ok: unknown } | { code: string; message: string };

/** A few contacts for the preview (`?contacts=demo`). */
export function stubDemoContacts(): ContactInput[] {
  const c = (name: string, numbers: Array<[PhoneLabel, string]>, favorite = false, organization: string | null = null): ContactInput => ({
    name,
    organization,
    email: null,
    numbers: numbers.map(([label, number]) => ({ label, number })),
    favorite,
  });
  return [
    c('Bob Stone', [['work', 'bob@pbx.example.com'], ['mobile', '+49 171 5550123']], true, 'Acme'),
    c('Carol Díaz', [['work', 'carol@pbx.example.com']]),
    c('Dana Weber', [['mobile', '+4930123456']], true),
    c('Support line', [['work', 'support@pbx.example.com']], false, 'Acme IT'),
  ];
}

export function createContactsStub(seed: ContactInput[] = []) {
  let contacts: Contact[] = [];
  let nextId = 0;
  const add = (input: ContactInput): Contact => {
    const contact = { ...input, numbers: input.numbers.map((n) => ({ ...n })), id: ++nextId };
    contacts.push(contact);
    return contact;
  };
  seed.forEach(add);
  const byName = (a: Contact, b: Contact) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || a.id - b.id;
  const invalid = (message: string): Reply => ({ code: 'invalid_target', message });
  const check = (input: unknown): ContactInput | string => {
    const r = input as Partial<ContactInput> | null;
    if (!r || typeof r.name !== 'string' || !Array.isArray(r.numbers)) return 'Missing contact.';
    const numbers = r.numbers.filter((n) => n.number.trim() !== '');
    const name = r.name.trim() || numbers[0]?.number || '';
    if (name === '') return 'A contact needs a name or a number.';
    return { name, organization: r.organization ?? null, email: r.email ?? null, numbers, favorite: Boolean(r.favorite) };
  };

  /** The reply to a contacts command, or null when `cmd` is not one. */
  function handle(cmd: string, args: Record<string, unknown>): Reply | null {
    switch (cmd) {
      case 'list_contacts': {
        const q = typeof args.search === 'string' ? args.search.trim().toLowerCase() : '';
        const rows = contacts
          .filter((c) => !args.favorites || c.favorite)
          .filter((c) => q === '' || c.name.toLowerCase().includes(q) || (c.organization ?? '').toLowerCase().includes(q) || c.numbers.some((n) => n.number.toLowerCase().includes(q)))
          .sort(byName);
        return { ok: { contacts: rows.map((c) => ({ ...c })), warning: null } };
      }
      case 'save_contact': {
        const input = check(args.contact);
        if (typeof input === 'string') return invalid(input);
        if (args.id === null || args.id === undefined) return { ok: add(input) };
        const at = contacts.findIndex((c) => c.id === args.id);
        if (at < 0) return { code: 'not_available', message: 'There is no such contact (it may have been deleted).' };
        contacts[at] = { ...input, id: contacts[at]!.id };
        return { ok: contacts[at] };
      }
      case 'delete_contact':
      case 'set_favorite': {
        const contact = contacts.find((c) => c.id === args.id);
        if (!contact) return { code: 'not_available', message: 'There is no such contact (it may have been deleted).' };
        if (cmd === 'delete_contact') contacts = contacts.filter((c) => c !== contact);
        else contact.favorite = Boolean(args.on);
        return { ok: null };
      }
      case 'import_vcard': {
        const text = typeof args.text === 'string' ? args.text : '';
        const cards = text.split(/^BEGIN:VCARD\s*$/im).slice(1);
        if (cards.length === 0) return invalid('This vCard file cannot be imported: there is no contact in it (no BEGIN:VCARD line).');
        let skipped = 0;
        for (const card of cards) {
          const name = /^FN[^:]*:(.*)$/im.exec(card)?.[1]?.trim() ?? '';
          const numbers = [...card.matchAll(/^TEL[^:]*:(?:tel:)?(.*)$/gim)].map((m) => ({ label: 'other' as const, number: (m[1] ?? '').trim() }));
          if (name === '' && numbers.length === 0) skipped += 1;
          else add({ name: name || numbers[0]!.number, organization: null, email: null, numbers, favorite: false });
        }
        return { ok: { added: cards.length - skipped, skipped } };
      }
      case 'export_vcard': {
        const lines = contacts.sort(byName).flatMap((c) => [
          'BEGIN:VCARD',
          'VERSION:3.0',
          `FN:${c.name}`,
          ...c.numbers.map((n) => `TEL;TYPE=${n.label.toUpperCase()}:${n.number}`),
          'END:VCARD',
        ]);
        return { ok: lines.map((l) => `${l}\r\n`).join('') };
      }
      default:
        return null;
    }
  }

  return { handle };
}
