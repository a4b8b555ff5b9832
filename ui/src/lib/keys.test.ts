import { describe, expect, it } from 'vitest';
import { KEYPAD, MAX_PASTE_LENGTH, actionForKey, clipPaste, focusKind } from './keys';

describe('actionForKey', () => {
  it.each(['0', '5', '9', '*', '#', '+'])('presses the dial character %s', (key) => {
    expect(actionForKey({ key })).toEqual({ type: 'press', key });
  });

  it('forwards letters and other characters unchanged: the engine decides what it keeps', () => {
    for (const key of ['a', 'Z', '@', '.', '-', '_', ':', '(']) {
      expect(actionForKey({ key }), key).toEqual({ type: 'press', key });
    }
  });

  it('ignores whitespace and named keys', () => {
    for (const key of [' ', '\t', 'F5', 'Tab', 'ArrowLeft', 'Shift', 'Dead', 'Unidentified', 'Delete']) {
      expect(actionForKey({ key }), key).toBeNull();
    }
  });

  it('ignores auto-repeat for characters but not for Backspace', () => {
    expect(actionForKey({ key: '7', repeat: true })).toBeNull();
    expect(actionForKey({ key: 'Backspace', repeat: true })).toEqual({ type: 'backspace' });
  });

  it('maps Backspace, Escape and Ctrl/Cmd+Backspace', () => {
    expect(actionForKey({ key: 'Backspace' })).toEqual({ type: 'backspace' });
    expect(actionForKey({ key: 'Escape' })).toEqual({ type: 'clear' });
    expect(actionForKey({ key: 'Backspace', ctrlKey: true })).toEqual({ type: 'clear' });
    expect(actionForKey({ key: 'Backspace', metaKey: true })).toEqual({ type: 'clear' });
    expect(actionForKey({ key: 'Backspace', altKey: true })).toBeNull();
  });

  it('calls on Enter, unless a button has focus (Enter activates the button)', () => {
    expect(actionForKey({ key: 'Enter' })).toEqual({ type: 'call' });
    expect(actionForKey({ key: 'Enter' }, 'button')).toBeNull();
    expect(actionForKey({ key: 'Enter', repeat: true })).toBeNull();
  });

  it('still types digits while a keypad button has focus', () => {
    expect(actionForKey({ key: '3' }, 'button')).toEqual({ type: 'press', key: '3' });
  });

  it('leaves shortcuts alone (Ctrl+V pastes through the paste event)', () => {
    expect(actionForKey({ key: 'v', ctrlKey: true })).toBeNull();
    expect(actionForKey({ key: 'c', metaKey: true })).toBeNull();
    expect(actionForKey({ key: '1', altKey: true })).toBeNull();
    expect(actionForKey({ key: 'r', ctrlKey: true })).toBeNull();
  });

  it('does nothing while a text field has focus or an IME is composing', () => {
    expect(actionForKey({ key: '1' }, 'text-field')).toBeNull();
    expect(actionForKey({ key: 'Backspace' }, 'text-field')).toBeNull();
    expect(actionForKey({ key: 'Enter' }, 'text-field')).toBeNull();
    expect(actionForKey({ key: '1', isComposing: true })).toBeNull();
  });
});

describe('focusKind', () => {
  const el = (tagName: string, extra: Record<string, unknown> = {}) =>
    ({ tagName, getAttribute: () => null, ...extra }) as unknown as Element;

  it('classifies focused elements', () => {
    expect(focusKind(null)).toBe('none');
    expect(focusKind(el('BODY'))).toBe('none');
    expect(focusKind(el('BUTTON'))).toBe('button');
    expect(focusKind(el('A'))).toBe('button');
    expect(focusKind(el('INPUT', { type: 'text' }))).toBe('text-field');
    expect(focusKind(el('INPUT', { type: 'checkbox' }))).toBe('button');
    expect(focusKind(el('TEXTAREA'))).toBe('text-field');
    expect(focusKind(el('DIV', { isContentEditable: true }))).toBe('text-field');
    expect(focusKind({ tagName: 'DIV', getAttribute: (n: string) => (n === 'role' ? 'button' : null) } as unknown as Element)).toBe(
      'button',
    );
  });
});

describe('KEYPAD', () => {
  it('is a 3x4 phone layout with the WebDriver test ids', () => {
    expect(KEYPAD.map((k) => k.key).join('')).toBe('123456789*0#');
    expect(KEYPAD.map((k) => k.testId)).toEqual([
      'key-1', 'key-2', 'key-3', 'key-4', 'key-5', 'key-6',
      'key-7', 'key-8', 'key-9', 'key-star', 'key-0', 'key-hash',
    ]);
  });

  it('shows the phone letters under the digits', () => {
    const letters = Object.fromEntries(KEYPAD.map((k) => [k.key, k.letters]));
    expect(letters).toMatchObject({ '2': 'ABC', '3': 'DEF', '7': 'PQRS', '9': 'WXYZ', '0': '+' });
  });

  it('gives every key a distinct accessible label', () => {
    const labels = KEYPAD.map((k) => k.label);
    expect(labels.every((l) => l.trim() !== '')).toBe(true);
    expect(new Set(labels).size).toBe(labels.length);
  });
});

describe('clipPaste', () => {
  it('keeps normal clipboard text and cuts huge text', () => {
    expect(clipPaste('+49 30 123')).toBe('+49 30 123');
    expect(clipPaste('1'.repeat(10_000))).toHaveLength(MAX_PASTE_LENGTH);
  });
});
