// The account form (first-run setup and Settings → Accounts) and, once saved,
// the registration's progress. The password is NOT kept here: the form
// component holds it while it is typed and hands it to `save()` once.

import {
  accountIdOf,
  emptyFields,
  fieldsFromView,
  firstError,
  suggestServer,
  toAccountInput,
  validateFields,
  type AccountFields,
  type FieldErrors,
  type FieldName,
} from './accounts';
import type { AccountsModel } from './accounts.svelte';
import { toBackendError } from './backend';
import type { AccountView } from './types';

export type EditorPhase = 'form' | 'progress';

/** What `save()` wants focused afterwards. */
export type SaveOutcome = { ok: true } | { ok: false; focus: FieldName | 'engine-error' };

export class AccountEditor {
  fields = $state<AccountFields>(emptyFields());
  /** The account being edited; null while adding one. */
  original = $state<AccountView | null>(null);
  makeDefault = $state(false);
  /** Fields the user has left once (their errors show from then on). */
  touched = $state<Partial<Record<FieldName, boolean>>>({});
  submitted = $state(false);
  /** The engine's sentence when it refused the account. */
  engineError = $state<string | null>(null);
  saving = $state(false);
  phase = $state<EditorPhase>('form');
  /** The saved account whose registration the progress view follows. */
  savedId = $state<string | null>(null);
  /** The server URL was typed by the user (so the address no longer fills it in). */
  #serverTyped = $state(false);

  readonly accounts: AccountsModel;

  constructor(accounts: AccountsModel, original: AccountView | null = null) {
    this.accounts = accounts;
    if (original) {
      this.original = original;
      this.fields = fieldsFromView(original);
      this.#serverTyped = true;
    }
  }

  get editing(): boolean {
    return this.original !== null;
  }

  /** A password must be typed: new account, none saved, or a new address (a new keychain entry). */
  get passwordRequired(): boolean {
    const o = this.original;
    return !o || !o.hasPassword || accountIdOf(this.fields.address) !== o.id;
  }

  /** The server field still follows the address (not typed by the user). */
  get serverSuggested(): boolean {
    return !this.#serverTyped && this.fields.server !== '';
  }

  setAddress(value: string): void {
    this.fields.address = value;
    if (!this.#serverTyped) this.fields.server = suggestServer(value);
  }

  setServer(value: string): void {
    this.fields.server = value;
    // Clearing the field hands it back to the suggestion.
    this.#serverTyped = value.trim() !== '';
  }

  touch(field: FieldName): void {
    if (!this.touched[field]) this.touched = { ...this.touched, [field]: true };
  }

  /** Every local error (shown or not). */
  errors(passwordTyped: boolean): FieldErrors {
    return validateFields(this.fields, { passwordRequired: this.passwordRequired, passwordTyped });
  }

  /** The errors to show now: for touched fields, or all after a save attempt. */
  visibleErrors(passwordTyped: boolean): FieldErrors {
    const all = this.errors(passwordTyped);
    if (this.submitted) return all;
    return Object.fromEntries(Object.entries(all).filter(([f]) => this.touched[f as FieldName])) as FieldErrors;
  }

  /** Check, then save. `password` empty = keep the saved one. */
  async save(password: string): Promise<SaveOutcome> {
    if (this.saving) return { ok: false, focus: 'engine-error' };
    this.submitted = true;
    this.engineError = null;
    const wrong = firstError(this.errors(password !== ''));
    if (wrong) return { ok: false, focus: wrong };
    this.saving = true;
    try {
      const previous = this.original;
      const view = await this.accounts.save(toAccountInput(this.fields, password, this.makeDefault));
      // A changed address is a new account (its own keychain entry): drop the old one.
      if (previous && previous.id !== view.id) {
        await this.accounts.remove(previous.id).catch((error: unknown) => this.accounts.status.error(error));
      }
      this.original = view;
      this.savedId = view.id;
      this.makeDefault = false;
      this.phase = 'progress';
      return { ok: true };
    } catch (error) {
      this.engineError = toBackendError(error).message;
      return { ok: false, focus: 'engine-error' };
    } finally {
      this.saving = false;
    }
  }

  /** Register again with the saved details and password. */
  async retry(): Promise<void> {
    if (this.saving) return;
    this.saving = true;
    try {
      await this.accounts.save(toAccountInput(this.fields, ''));
    } catch (error) {
      // Back to the form, where the engine's sentence is shown.
      this.engineError = toBackendError(error).message;
      this.phase = 'form';
    } finally {
      this.saving = false;
    }
  }

  /** From the progress view back to the form (password empty = keep). */
  edit(): void {
    const saved = this.savedId ? this.accounts.find(this.savedId) : null;
    if (saved) this.original = saved;
    this.submitted = false;
    this.touched = {};
    this.engineError = null;
    this.phase = 'form';
  }
}
