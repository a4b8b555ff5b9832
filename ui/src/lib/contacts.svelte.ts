// The contacts screen's state: the list (search, favorites only), the edit
// form, favorite stars, calling, and vCard import/export.

import type { Backend } from './backend';
import { dialWithProgress } from './dial';
import { checkForm, emptyForm, formFromContact, formToInput, importWords, type ContactForm } from './contacts';
import type { StatusLine } from './status.svelte';
import type { Contact } from './types';

export interface ContactsOptions {
  /** A call was placed: show it. */
  onDialed?: (call: string, target: string) => void;
}

export class ContactsModel {
  contacts = $state<Contact[]>([]);
  search = $state('');
  favoritesOnly = $state(false);
  loaded = $state(false);
  /** A sentence from the engine (an unreadable contacts file was set aside). */
  warning = $state<string | null>(null);
  /** The form being edited (`id` null: a new contact). */
  editing = $state<{ id: number | null; form: ContactForm } | null>(null);
  /** Why the form was not saved (the local check or the engine's sentence). */
  formError = $state<string | null>(null);
  saving = $state(false);
  calling = $state(false);

  readonly backend: Backend;
  readonly status: StatusLine;
  readonly #onDialed: (call: string, target: string) => void;
  #generation = 0;

  constructor(backend: Backend, status: StatusLine, options: ContactsOptions = {}) {
    this.backend = backend;
    this.status = status;
    this.#onDialed = options.onDialed ?? (() => {});
  }

  async load(): Promise<void> {
    const generation = ++this.#generation;
    try {
      const list = await this.backend.listContacts(this.search, this.favoritesOnly);
      if (generation !== this.#generation) return;
      this.contacts = list.contacts;
      this.warning = list.warning;
      this.loaded = true;
    } catch (error) {
      if (generation === this.#generation) this.status.error(error);
    }
  }

  setSearch(text: string): Promise<void> {
    this.search = text;
    return this.load();
  }

  setFavoritesOnly(on: boolean): Promise<void> {
    this.favoritesOnly = on;
    return this.load();
  }

  startAdd(form: ContactForm = emptyForm()): void {
    this.editing = { id: null, form };
    this.formError = null;
  }

  startEdit(contact: Contact): void {
    this.editing = { id: contact.id, form: formFromContact(contact) };
    this.formError = null;
  }

  cancelEdit(): void {
    this.editing = null;
    this.formError = null;
  }

  /** Save the form; true when it was saved (the form closes). */
  async save(): Promise<boolean> {
    const editing = this.editing;
    if (!editing || this.saving) return false;
    this.formError = checkForm(editing.form);
    if (this.formError) return false;
    this.saving = true;
    try {
      const saved = await this.backend.saveContact(editing.id, formToInput(editing.form));
      this.status.info(editing.id === null ? `${saved.name} was added to your contacts.` : `${saved.name} was saved.`);
      this.editing = null;
      await this.load();
      return true;
    } catch (error) {
      this.formError = error instanceof Error ? error.message : String(error);
      return false;
    } finally {
      this.saving = false;
    }
  }

  async remove(contact: Contact): Promise<void> {
    try {
      await this.backend.deleteContact(contact.id);
      this.contacts = this.contacts.filter((c) => c.id !== contact.id);
      if (this.editing?.id === contact.id) this.editing = null;
      this.status.info(`${contact.name} was deleted.`);
    } catch (error) {
      this.status.error(error);
    }
  }

  async toggleFavorite(contact: Contact): Promise<void> {
    const on = !contact.favorite;
    try {
      await this.backend.setFavorite(contact.id, on);
      this.contacts = this.favoritesOnly && !on
        ? this.contacts.filter((c) => c.id !== contact.id)
        : this.contacts.map((c) => (c.id === contact.id ? { ...c, favorite: on } : c));
    } catch (error) {
      this.status.error(error);
    }
  }

  /** Dial one of the contact's numbers (the first by default). */
  async call(contact: Contact, number = contact.numbers[0]?.number): Promise<string | null> {
    if (this.calling || !number) return null;
    this.calling = true;
    try {
      const call = await dialWithProgress(this.backend, this.status, number, contact.name);
      if (call !== null) this.#onDialed(call, number);
      return call;
    } finally {
      this.calling = false;
    }
  }

  /** Add every card of a vCard file's text; says what happened in the status line. */
  async importText(text: string): Promise<boolean> {
    try {
      const report = await this.backend.importVcard(text);
      this.status.info(importWords(report));
      await this.load();
      return true;
    } catch (error) {
      this.status.error(error);
      return false;
    }
  }

  /** Every contact as one vCard file, or null (the reason is in the status line). */
  async exportText(): Promise<string | null> {
    try {
      return await this.backend.exportVcard(null, '3.0');
    } catch (error) {
      this.status.error(error);
      return null;
    }
  }
}
