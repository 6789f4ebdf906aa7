import test from "node:test";
import assert from "node:assert/strict";
import { KEY_CLASS, KEY_CLASS_TABLE, keyClassOfCode } from "../src/keymap.js";

test("key classes match the contract's KeyClass values", () => {
  assert.deepEqual(KEY_CLASS, { LETTER: 0, DIGIT: 1, SEPARATOR: 2, BACKSPACE: 3, SHIFT: 4, ENTER: 5, OTHER: 6, MASKED: 7 });
});

test("table: letters, digits, separators, editing keys", () => {
  assert.equal(Object.keys(KEY_CLASS_TABLE).length, 26 + 20 + 22 + 2 + 3 + 2);
  for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZ") assert.equal(keyClassOfCode("Key" + c), 0);
  for (let d = 0; d < 10; d++) {
    assert.equal(keyClassOfCode("Digit" + d), 1);
    assert.equal(keyClassOfCode("Numpad" + d), 1);
  }
  for (const c of ["Space", "Comma", "Period", "Slash", "Minus", "IntlBackslash", "NumpadDecimal"]) {
    assert.equal(keyClassOfCode(c), 2, c);
  }
  assert.equal(keyClassOfCode("Backspace"), 3);
  assert.equal(keyClassOfCode("Delete"), 3);
  assert.equal(keyClassOfCode("ShiftLeft"), 4);
  assert.equal(keyClassOfCode("CapsLock"), 4);
  assert.equal(keyClassOfCode("Enter"), 5);
  assert.equal(keyClassOfCode("NumpadEnter"), 5);
  assert.ok(Object.values(KEY_CLASS_TABLE).every((v) => v >= 0 && v <= 5));
});

test("unknown and odd codes are OTHER", () => {
  for (const c of ["Tab", "ArrowLeft", "F13", "ControlLeft", "MetaRight", "Unidentified", "", "keya", "toString",
    "__proto__", "hasOwnProperty", undefined, null, 65, {}]) {
    assert.equal(keyClassOfCode(c), 6, String(c));
  }
});

test("the table is frozen", () => {
  assert.ok(Object.isFrozen(KEY_CLASS_TABLE));
  assert.ok(Object.isFrozen(KEY_CLASS));
});
