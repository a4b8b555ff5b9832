import { describe, expect, it } from 'vitest';
import { createBackend, parseContactList, parseImportReport, toContact } from './backend';
import { createBackendStub } from './backend-stub';
import { stubDemoContacts } from './contacts-stub';
import { checkForm, contactDetail, emptyForm, exportFileName, formFromCall, formFromContact, formToInput, importWords } from './contacts';
import { ContactsModel } from './contacts.svelte';
import { StatusLine } from './status.svelte';

function setup(withDemo = true) {
  const stub = createBackendStub({ accountsConfigured: true, ringMs: 100_000, contacts: withDemo ? stubDemoContacts() : [] });
  const backend = createBackend(stub.invoke, stub.listen, 'stub');
  const status = new StatusLine();
  const dialed: string[] = [];
  const model = new ContactsModel(backend, status, { onDialed: (_call, target) => dialed.push(target) });
  return { stub, backend, status, model, dialed };
}

describe('contact form', () => {
  it('trims, drops empty numbers and says what is missing', () => {
    const form = { ...emptyForm(), name: '  Bob ', organization: ' ', numbers: [{ label: 'work' as const, number: ' 2002 ' }, { label: 'other' as const, number: '' }] };
    expect(formToInput(form)).toEqual({ name: 'Bob', organization: null, email: null, numbers: [{ label: 'work', number: '2002' }], favorite: false });
    expect(checkForm(form)).toBeNull();
    expect(checkForm(emptyForm())).toBe('A contact needs a name or a number.');
    expect(checkForm({ ...emptyForm(), name: 'x'.repeat(201) })).toMatch(/too long/);
    expect(checkForm({ ...emptyForm(), name: 'A', numbers: [{ label: 'work', number: '--' }] })).toMatch(/cannot|can be called/);
    expect(checkForm({ ...emptyForm(), numbers: [{ label: 'work', number: '2002' }] })).toBeNull();
  });

  it('is filled from a contact or from a call', () => {
    const contact = { id: 3, name: 'Dana', organization: null, email: null, numbers: [], favorite: true };
    expect(formFromContact(contact).numbers).toHaveLength(1);
    expect(formFromContact(contact).favorite).toBe(true);
    expect(formFromCall('+4930123', 'Dana Weber')).toMatchObject({ name: 'Dana Weber', numbers: [{ number: '+4930123' }] });
    expect(formFromCall('+4930123', '+4930123').name).toBe('');
    expect(formFromCall('2002', null).name).toBe('');
  });

  it('says rows and imports in words', () => {
    expect(contactDetail({ numbers: [{ label: 'mobile', number: '0171' }], organization: 'Acme' })).toBe('Mobile 0171 · Acme');
    expect(contactDetail({ numbers: [], organization: null })).toBe('No number');
    expect(importWords({ added: 1, skipped: 0 })).toBe('Imported 1 contact.');
    expect(importWords({ added: 3, skipped: 2 })).toBe('Imported 3 contacts; 2 cards without a name or number left out.');
    expect(exportFileName(new Date(2026, 0, 5))).toBe('homeline-contacts-2026-01-05.vcf');
  });
});

describe('contact replies', () => {
  it('are checked', () => {
    expect(toContact({ id: 1, name: 'A', organization: null, email: null, numbers: [{ label: 'pager', number: '1' }], favorite: false })?.numbers[0]?.label).toBe('other');
    expect(toContact({ id: 1, name: 'A', numbers: 'x', favorite: false })).toBeNull();
    expect(() => parseContactList([])).toThrow(/does not understand/);
    expect(parseContactList({ contacts: [], warning: null })).toEqual({ contacts: [], warning: null });
    expect(() => parseImportReport({ added: -1, skipped: 0 })).toThrow();
  });
});

describe('ContactsModel', () => {
  it('lists, searches, filters favorites and stars', async () => {
    const { model } = setup();
    await model.load();
    expect(model.contacts.map((c) => c.name)).toEqual(['Bob Stone', 'Carol Díaz', 'Dana Weber', 'Support line']);
    await model.setSearch('acme');
    expect(model.contacts.map((c) => c.name)).toEqual(['Bob Stone', 'Support line']);
    await model.setSearch('');
    await model.setFavoritesOnly(true);
    expect(model.contacts.map((c) => c.name)).toEqual(['Bob Stone', 'Dana Weber']);
    await model.toggleFavorite(model.contacts[0]!);
    expect(model.contacts.map((c) => c.name)).toEqual(['Dana Weber']);
    await model.load();
    expect(model.contacts.map((c) => c.name)).toEqual(['Dana Weber']);
  });

  it('adds, edits and deletes; a bad form is not sent', async () => {
    const { model, status } = setup(false);
    model.startAdd();
    expect(await model.save()).toBe(false);
    expect(model.formError).toBe('A contact needs a name or a number.');
    model.editing!.form.name = 'Eve';
    model.editing!.form.numbers[0]!.number = '3003';
    expect(await model.save()).toBe(true);
    expect(model.editing).toBeNull();
    expect(status.current?.text).toBe('Eve was added to your contacts.');
    expect(model.contacts.map((c) => [c.name, c.numbers[0]?.number])).toEqual([['Eve', '3003']]);
    model.startEdit(model.contacts[0]!);
    model.editing!.form.name = 'Eve Adams';
    expect(await model.save()).toBe(true);
    expect(model.contacts[0]?.name).toBe('Eve Adams');
    await model.remove(model.contacts[0]!);
    expect(model.contacts).toEqual([]);
    expect(status.current?.text).toBe('Eve Adams was deleted.');
  });

  it('calls the first number', async () => {
    const { model, dialed } = setup();
    await model.load();
    await model.call(model.contacts[2]!);
    expect(dialed).toEqual(['+4930123456']);
  });

  it('imports vCard text and reports what it did; export gives a file', async () => {
    const { model, status } = setup(false);
    expect(await model.importText('BEGIN:VCARD\nFN:Zoe\nTEL:555\nEND:VCARD\nBEGIN:VCARD\nNOTE:x\nEND:VCARD\n')).toBe(true);
    expect(status.current?.text).toBe('Imported 1 contact; 1 card without a name or number left out.');
    expect(model.contacts.map((c) => c.name)).toEqual(['Zoe']);
    expect(await model.importText('hello')).toBe(false);
    expect(status.current?.kind).toBe('error');
    expect(status.current?.text).toMatch(/no contact in it/);
    expect(await model.exportText()).toContain('FN:Zoe');
  });
});
