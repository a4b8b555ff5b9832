// Keypad layout and the keyboard → dialer action mapping (pure, unit-tested).

export interface KeypadKey {
  /** What is sent to `dialer_press`. */
  key: string;
  /** The small letters under the digit, as on a phone. */
  letters: string;
  /** Accessible name. */
  label: string;
  /** data-testid, stable for WebDriver. */
  testId: string;
}

export const KEYPAD: readonly KeypadKey[] = [
  { key: '1', letters: '', label: '1', testId: 'key-1' },
  { key: '2', letters: 'ABC', label: '2', testId: 'key-2' },
  { key: '3', letters: 'DEF', label: '3', testId: 'key-3' },
  { key: '4', letters: 'GHI', label: '4', testId: 'key-4' },
  { key: '5', letters: 'JKL', label: '5', testId: 'key-5' },
  { key: '6', letters: 'MNO', label: '6', testId: 'key-6' },
  { key: '7', letters: 'PQRS', label: '7', testId: 'key-7' },
  { key: '8', letters: 'TUV', label: '8', testId: 'key-8' },
  { key: '9', letters: 'WXYZ', label: '9', testId: 'key-9' },
  { key: '*', letters: '', label: 'Star', testId: 'key-star' },
  { key: '0', letters: '+', label: '0, hold for plus', testId: 'key-0' },
  { key: '#', letters: '', label: 'Hash', testId: 'key-hash' },
];

/** Holding the 0 key this long types "+" instead, like on a phone. */
export const LONG_PRESS_MS = 550;

export type DialerAction =
  | { type: 'press'; key: string }
  | { type: 'backspace' }
  | { type: 'clear' }
  | { type: 'call' };

/** The parts of a KeyboardEvent the mapping looks at. */
export interface KeyInput {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  repeat?: boolean;
  isComposing?: boolean;
}

/** What currently has focus, as far as the mapping cares. */
export type FocusKind = 'none' | 'button' | 'text-field';

/**
 * Map a key press to a dialer action, or null to let the browser handle it.
 *
 * - any single printable character (digits, `*`, `#`, `+`, letters, `@`, `.`...) → press:
 *   the engine decides what it keeps (it ignores what cannot be dialed);
 *   auto-repeat is ignored so a held key does not fill the display;
 * - Backspace → backspace (repeat allowed); Ctrl/Cmd+Backspace and Escape → clear;
 * - Enter → call, except on a focused button, where Enter activates that button;
 * - anything with Ctrl/Cmd/Alt (shortcuts, Ctrl+V: paste arrives as a paste event) → null;
 * - nothing at all while a text field has focus.
 */
export function actionForKey(input: KeyInput, focus: FocusKind = 'none'): DialerAction | null {
  if (input.isComposing || focus === 'text-field') return null;
  const modified = Boolean(input.ctrlKey || input.metaKey);
  if (input.key === 'Backspace') {
    if (input.altKey) return null;
    return modified ? { type: 'clear' } : { type: 'backspace' };
  }
  if (modified || input.altKey) return null;
  if (input.key === 'Escape') return { type: 'clear' };
  if (input.key === 'Enter') {
    if (focus === 'button' || input.repeat) return null;
    return { type: 'call' };
  }
  // Named keys ("Tab", "F5", "Dead", "Unidentified") are longer than one character.
  if (Array.from(input.key).length === 1 && !/\s/.test(input.key)) {
    return input.repeat ? null : { type: 'press', key: input.key };
  }
  return null;
}

/** Classify the focused element for actionForKey. */
export function focusKind(el: Element | null): FocusKind {
  if (!el || typeof (el as HTMLElement).tagName !== 'string') return 'none';
  const tag = (el as HTMLElement).tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select' || (el as HTMLElement).isContentEditable) return 'text-field';
  if (tag === 'input') {
    const type = ((el as HTMLInputElement).type || 'text').toLowerCase();
    return ['button', 'submit', 'reset', 'checkbox', 'radio'].includes(type) ? 'button' : 'text-field';
  }
  if (tag === 'button' || tag === 'a' || tag === 'summary' || el.getAttribute('role') === 'button') {
    return 'button';
  }
  return 'none';
}

/** Longest clipboard text forwarded to `dialer_paste` (a number, not a novel). */
export const MAX_PASTE_LENGTH = 1024;

export function clipPaste(text: string): string {
  return text.length > MAX_PASTE_LENGTH ? text.slice(0, MAX_PASTE_LENGTH) : text;
}
