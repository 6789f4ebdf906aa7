// Key classes of the session contract v2 (biometrics/events.py: KeyClass, key_class_table()).
//
// A key event carries only one of 8 coarse classes, chosen from the physical key
// (KeyboardEvent.code), never from the character it typed. Every class stands for many
// keys (or for editing / control keys only), so a recorded session cannot spell text.
// tests/test_collector_keymap.py checks that KEY_CLASS_TABLE equals the Python table.

export const KEY_CLASS = Object.freeze({
  LETTER: 0, // KeyA..KeyZ
  DIGIT: 1, // Digit0..9, Numpad0..9
  SEPARATOR: 2, // Space and punctuation keys
  BACKSPACE: 3, // Backspace, Delete
  SHIFT: 4, // ShiftLeft, ShiftRight, CapsLock
  ENTER: 5, // Enter, NumpadEnter
  OTHER: 6, // navigation, function and other control keys; any code not in the table
  MASKED: 7, // any key of a sensitive field (password, one-time code, card number): timing only
});

// Space and punctuation keys (events.py: SEPARATOR_CODES).
const SEPARATOR_CODES = [
  "Space", "Backquote", "Minus", "Equal", "BracketLeft", "BracketRight", "Backslash",
  "Semicolon", "Quote", "Comma", "Period", "Slash", "IntlBackslash", "IntlRo", "IntlYen",
  "NumpadDecimal", "NumpadAdd", "NumpadSubtract", "NumpadMultiply", "NumpadDivide",
  "NumpadComma", "NumpadEqual",
];

function buildTable() {
  const t = {};
  for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZ") t["Key" + c] = KEY_CLASS.LETTER;
  for (let d = 0; d < 10; d++) t["Digit" + d] = KEY_CLASS.DIGIT;
  for (let d = 0; d < 10; d++) t["Numpad" + d] = KEY_CLASS.DIGIT;
  for (const c of SEPARATOR_CODES) t[c] = KEY_CLASS.SEPARATOR;
  t.Backspace = t.Delete = KEY_CLASS.BACKSPACE;
  t.ShiftLeft = t.ShiftRight = t.CapsLock = KEY_CLASS.SHIFT;
  t.Enter = t.NumpadEnter = KEY_CLASS.ENTER;
  return Object.freeze(t);
}

/** Every KeyboardEvent.code with a class other than OTHER (equals Python's key_class_table()). */
export const KEY_CLASS_TABLE = buildTable();

const has = Object.prototype.hasOwnProperty;

/**
 * The class of a physical key code ("KeyA" -> 0, "Digit5" -> 1, ...); OTHER (6) for any
 * code not in the table (including "", undefined and non-strings).
 */
export function keyClassOfCode(code) {
  return typeof code === "string" && has.call(KEY_CLASS_TABLE, code) ? KEY_CLASS_TABLE[code] : KEY_CLASS.OTHER;
}
