import test from "node:test";
import assert from "node:assert/strict";
import { createCollector, isSensitiveElement } from "../src/collector.js";
import * as api from "../src/collector.js";
import { makePage, fire, tap, coalesced, forbiddenReads, FORBIDDEN_EVENT_PROPS } from "../testing/fakedom.js";

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const KEY_FIELDS = ["key_class", "press", "t", "type"];
const POINTER_FIELDS = ["button", "delta_y", "t", "type", "x", "y"];
const TOUCH_FIELDS = ["area", "pointer_id", "pressure", "t", "type", "x", "y"];

function setup(opts = {}, pageOpts = {}) {
  const page = makePage(pageOpts);
  const c = createCollector({ now: page.now, window: page.window, ...opts });
  c.attach(page.form);
  return { page, c, f: page.fields };
}
const classes = (s) => s.keystrokes.map((e) => e.key_class);
const types = (list) => list.map((e) => e.type);
const keys = (o) => Object.keys(o).sort();

function assertContract(s) {
  assert.deepEqual(keys(s), ["keystrokes", "meta", "pointer", "schema_version", "session_id", "signals", "touch"]);
  assert.equal(s.schema_version, 2);
  assert.match(s.session_id, UUID4);
  assert.deepEqual(keys(s.signals), ["autofill", "paste"]);
  assert.deepEqual(keys(s.meta), ["device_type", "screen_height", "screen_width"]);
  for (const [list, fields] of [[s.keystrokes, KEY_FIELDS], [s.pointer, POINTER_FIELDS], [s.touch, TOUCH_FIELDS]]) {
    let last = 0;
    for (const e of list) {
      assert.deepEqual(keys(e), fields);
      assert.ok(Number.isFinite(e.t) && e.t >= 0 && e.t <= 3600000, `t=${e.t}`);
      assert.ok(e.t >= last, "non-decreasing t");
      assert.equal(Math.round(e.t * 10) / 10, e.t);
      last = e.t;
      for (const v of Object.values(e)) if (typeof v === "number") assert.ok(Number.isFinite(v));
    }
  }
  // A plain object: survives a JSON round trip unchanged.
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
}

test("module API", () => {
  for (const name of ["attach", "detach", "session", "reset", "createCollector"]) assert.equal(typeof api[name], "function");
  const c = createCollector();
  for (const name of ["attach", "detach", "session", "reset"]) assert.equal(typeof c[name], "function");
});

test("default instance: attach / session / reset", () => {
  const page = makePage();
  const off = api.attach(page.form);
  tap(page, page.fields.user, "KeyQ");
  const s = api.session();
  assertContract(s);
  assert.ok(s.keystrokes.length >= 2);
  api.reset();
  assert.equal(api.session().keystrokes.length, 0);
  assert.notEqual(api.session().session_id, s.session_id);
  off();
  api.detach();
});

test("session() has exactly the contract's keys and types", () => {
  const { page, c, f } = setup();
  tap(page, f.user, "KeyA");
  fire(page, f.user, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 2 });
  fire(page, f.user, "pointerdown", { pointerType: "touch", pointerId: 5, clientX: 1, clientY: 2, pressure: 0.5, width: 3, height: 4 });
  const s = c.session();
  assertContract(s);
  assert.equal(s.keystrokes.length, 2);
  assert.equal(s.pointer.length, 1);
  assert.equal(s.touch.length, 1);
  assert.deepEqual(s.meta, { device_type: "desktop", screen_width: 1920, screen_height: 1080 });
  assert.deepEqual(s.signals, { paste: 0, autofill: 0 });
  // Returned objects are copies: mutating them does not touch the buffers.
  s.keystrokes[0].t = 999;
  s.keystrokes.length = 0;
  assert.equal(c.session().keystrokes[0].t, 0);
});

test("key classes from event.code, unknown codes are OTHER", () => {
  const { page, c, f } = setup();
  const codes = ["KeyZ", "Digit3", "Numpad9", "Space", "Comma", "Backspace", "Delete", "ShiftRight", "CapsLock",
    "Enter", "NumpadEnter", "Tab", "ArrowUp", "F5", "Unidentified", ""];
  for (const code of codes) tap(page, f.user, code);
  fire(page, f.user, "keydown", {}); // no code at all
  page.clock.t += 5;
  fire(page, f.user, "keyup", {});
  const s = c.session();
  const want = [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 6, 6, 6];
  assert.deepEqual(classes(s), want.flatMap((k) => [k, k]));
  assert.deepEqual(types(s.keystrokes), want.flatMap(() => ["down", "up"]));
  assert.deepEqual(s.keystrokes.slice(0, 4).map((e) => e.t), [0, 80, 140, 220]);
  const json = JSON.stringify(s);
  for (const code of codes.filter(Boolean)) assert.ok(!json.includes(code), `session contains ${code}`);
});

test("sensitive fields are masked: password, one-time-code, cc-number, data-biometrics", () => {
  const { page, c, f } = setup();
  const box = page.form.add("div", { "data-biometrics": "sensitive" });
  const inBox = box.add("input", { type: "text" });
  const np = page.form.add("input", { type: "text", autocomplete: "section-x New-Password" });
  const csc = page.form.add("input", { autocomplete: "cc-csc" });
  const cur = page.form.add("input", { type: "email", autocomplete: "current-password" });
  const pwUpper = page.form.add("input", { type: "PASSWORD" });
  for (const el of [f.password, f.otp, f.marked, f.card, inBox, np, csc, cur, pwUpper]) {
    c.reset();
    for (const code of ["KeyA", "Digit1", "Space", "Enter", "Backspace", "F2"]) tap(page, el, code);
    const s = c.session();
    assert.equal(s.keystrokes.length, 12);
    assert.ok(classes(s).every((k) => k === 7), `not masked: ${JSON.stringify(el.attrs)}`);
  }
  c.reset();
  for (const el of [f.user, f.note]) tap(page, el, "KeyA");
  assert.deepEqual(classes(c.session()), [0, 0, 0, 0]);
  assert.equal(isSensitiveElement(f.user), false);
  assert.equal(isSensitiveElement(f.password), true);
});

test("a password field stays masked after a show-password toggle to type=text", () => {
  const { page, c, f } = setup();
  f.password.setAttribute("type", "text");
  tap(page, f.password, "KeyA");
  assert.deepEqual(classes(c.session()), [7, 7]);
});

test("press ids: 0, 1, 2, ... in down order; a key's up shares its down's id", () => {
  const { page, c, f } = setup();
  fire(page, f.user, "keydown", { code: "ShiftLeft" });
  page.clock.t += 20;
  fire(page, f.user, "keydown", { code: "KeyB" });
  fire(page, f.user, "keydown", { code: "KeyB", repeat: true }); // no press of its own
  page.clock.t += 20;
  fire(page, f.user, "keydown", { code: "KeyC" });
  page.clock.t += 20;
  fire(page, f.user, "keyup", { code: "KeyB" });
  fire(page, f.user, "keyup", { code: "ShiftLeft" });
  fire(page, f.user, "keyup", { code: "KeyC" });
  tap(page, f.password, "KeyD");
  assert.deepEqual(c.session().keystrokes.map((e) => [e.type, e.press, e.key_class]), [
    ["down", 0, 4], ["down", 1, 0], ["down", 2, 0], ["up", 1, 0], ["up", 0, 4], ["up", 2, 0], ["down", 3, 7], ["up", 3, 7],
  ]);
  c.reset();
  tap(page, f.user, "KeyA");
  assert.deepEqual(c.session().keystrokes.map((e) => e.press), [0, 0]);
});

test("a key up keeps its down's class (Tab out of a password field)", () => {
  const { page, c, f } = setup();
  fire(page, f.password, "keydown", { code: "Tab" });
  page.clock.t += 50;
  fire(page, f.user, "keyup", { code: "Tab" });
  assert.deepEqual(classes(c.session()), [7, 7]);
});

test("event.key / keyCode / which / char / data and field values are never read", () => {
  forbiddenReads.length = 0;
  const { page, c, f } = setup();
  for (const el of [f.user, f.password, f.otp]) {
    for (const code of ["KeyP", "Digit4", "Quote", "Enter"]) tap(page, el, code);
    fire(page, el, "paste", {});
    fire(page, el, "input", { inputType: "insertText" });
    fire(page, el, "input", { inputType: "insertFromPaste" });
    fire(page, el, "input", {});
    fire(page, el, "compositionstart", {});
    fire(page, el, "compositionend", {});
  }
  fire(page, f.user, "pointerdown", { pointerType: "mouse", button: 0, clientX: 3, clientY: 4 });
  const s = c.session();
  assert.deepEqual(forbiddenReads, []);
  assertContract(s);
  assert.equal(s.keystrokes.length, 24);
  const json = JSON.stringify(s);
  for (const word of [...FORBIDDEN_EVENT_PROPS, "code", "value", "KeyP", "Digit4", "Quote"]) {
    assert.ok(!json.includes(`"${word}"`), word);
  }
});

test("auto-repeat and IME composition are dropped", () => {
  const { page, c, f } = setup();
  fire(page, f.user, "keydown", { code: "KeyA" });
  for (let i = 0; i < 5; i++) {
    page.clock.t += 30;
    fire(page, f.user, "keydown", { code: "KeyA", repeat: true });
  }
  page.clock.t += 30;
  fire(page, f.user, "keyup", { code: "KeyA" });
  page.clock.t += 30;
  // isComposing on the event
  fire(page, f.user, "keydown", { code: "KeyK", isComposing: true });
  fire(page, f.user, "keyup", { code: "KeyK", isComposing: true });
  // composition state from compositionstart / compositionend
  fire(page, f.user, "compositionstart", {});
  fire(page, f.user, "keydown", { code: "KeyN" });
  fire(page, f.user, "keyup", { code: "KeyN" });
  fire(page, f.user, "compositionend", {});
  page.clock.t += 30;
  tap(page, f.user, "Digit1");
  const s = c.session();
  assert.deepEqual(types(s.keystrokes), ["down", "up", "down", "up"]);
  assert.deepEqual(classes(s), [0, 0, 1, 1]);
  assert.deepEqual(s.keystrokes.map((e) => e.t), [0, 180, 240, 320]);
});

test("a key up without a recorded down is dropped; a down of a held key is not recorded twice", () => {
  const { page, c, f } = setup();
  fire(page, f.user, "keyup", { code: "Tab" }); // pressed before attach
  fire(page, f.user, "keydown", { code: "KeyA" });
  fire(page, f.user, "keydown", { code: "KeyA" });
  fire(page, f.user, "keyup", { code: "KeyA" });
  fire(page, f.user, "keyup", { code: "KeyA" });
  assert.deepEqual(types(c.session().keystrokes), ["down", "up"]);
});

test("paste and autofill are counted in signals, never as keystrokes", () => {
  const { page, c, f } = setup();
  fire(page, f.user, "paste", {});
  fire(page, f.password, "paste", {});
  fire(page, f.user, "input", { inputType: "insertFromPaste" });
  fire(page, f.user, "input", { inputType: "insertText" }); // typing: not autofill
  fire(page, f.user, "input", { inputType: "insertReplacementText" }); // autofill / suggestion
  fire(page, f.user, "input", {}); // same field again: counted once
  fire(page, f.password, "input", {}); // plain Event, no inputType: browser / password manager fill
  fire(page, f.note, "input", {}); // textarea: not counted
  const box = page.form.add("input", { type: "checkbox" });
  fire(page, box, "input", {}); // a checkbox click fires a plain input event: not counted
  const email = page.form.add("input", { type: "email" });
  fire(page, email, "animationstart", { animationName: "onAutoFillStart" });
  fire(page, email, "input", {}); // same field: once
  fire(page, f.otp, "animationstart", { animationName: "fadeIn" });
  const s = c.session();
  assert.deepEqual(s.signals, { paste: 2, autofill: 3 });
  assert.equal(s.keystrokes.length, 0);
  c.reset();
  assert.deepEqual(c.session().signals, { paste: 0, autofill: 0 });
  fire(page, f.password, "input", {});
  assert.deepEqual(c.session().signals, { paste: 0, autofill: 1 });
});

test("signals are capped at the contract's 10000", () => {
  const { page, c, f } = setup();
  for (let i = 0; i < 10005; i++) page.form.dispatchEvent(new Event("paste"));
  assert.equal(c.session().signals.paste, 10000);
});

test("pointer: coalesced moves, rate cap at 125 Hz, buttons, wheel", () => {
  const { page, c, f } = setup();
  const t0 = page.clock.t;
  // 1 ms coalesced samples over 40 ms -> kept every 8 ms: 0, 8, 16, 24, 32.
  page.clock.t = t0 + 39;
  const samples = Array.from({ length: 40 }, (_, i) => ({ timeStamp: t0 + i, clientX: 10 + i, clientY: 20.04 + i / 3 }));
  fire(page, page.form, "pointermove", { pointerType: "mouse", clientX: 49, clientY: 33, getCoalescedEvents: coalesced(samples) });
  // Without getCoalescedEvents: the event itself, rate-capped (5 ms later: dropped; 8 ms: kept).
  page.clock.t = t0 + 37;
  fire(page, page.form, "pointermove", { pointerType: "pen", clientX: 1, clientY: 1 });
  page.clock.t = t0 + 40;
  fire(page, page.form, "pointermove", { pointerType: "pen", clientX: 2.26, clientY: -3.04 });
  // An empty coalesced list falls back to the event.
  page.clock.t = t0 + 50;
  fire(page, page.form, "pointermove", { pointerType: "mouse", clientX: 5, clientY: 6, getCoalescedEvents: () => [] });
  // Moves outside the form reach the document listener (pointerScope "document").
  const outside = page.doc.createElement("div");
  page.clock.t = t0 + 60;
  fire(page, outside, "pointermove", { pointerType: "mouse", clientX: 7, clientY: 8 });
  const moves = c.session().pointer;
  assert.deepEqual(moves.map((e) => e.t), [0, 8, 16, 24, 32, 40, 50, 60]);
  assert.deepEqual(moves[1], { t: 8, type: "move", x: 18, y: 22.7, button: "none", delta_y: 0 });
  assert.deepEqual(moves[5], { t: 40, type: "move", x: 2.3, y: -3, button: "none", delta_y: 0 });

  page.clock.t = 5000;
  c.reset();
  const t = c.session();
  assert.equal(t.pointer.length, 0);
  for (const [button, name] of [[0, "left"], [1, "middle"], [2, "right"], [3, "none"]]) {
    fire(page, f.user, "pointerdown", { pointerType: "mouse", button, clientX: 10, clientY: 11 });
    page.clock.t += 100;
    fire(page, f.user, "pointerup", { pointerType: "mouse", button, clientX: 10, clientY: 11 });
    const p = c.session().pointer.slice(-2);
    assert.deepEqual(p.map((e) => [e.type, e.button]), [["down", name], ["up", name]]);
  }
  fire(page, f.user, "pointercancel", { pointerType: "mouse", button: 0 }); // not an up
  fire(page, f.user, "pointerdown", { pointerType: "foo", button: 0 }); // unknown type: ignored
  for (const [deltaY, deltaMode, px] of [[-120, 0, -120], [3, 1, 48], [1, 2, 800], [1e9, 0, 100000], [NaN, 0, 0]]) {
    fire(page, page.form, "wheel", { deltaY, deltaMode, deltaX: 5, clientX: 300, clientY: 400 });
    assert.deepEqual(c.session().pointer.at(-1), { t: 400, type: "wheel", x: 300, y: 400, button: "none", delta_y: px });
  }
  assert.equal(c.session().pointer.length, 8 + 5);
});

test("pointer coordinates are clamped and finite", () => {
  const { page, c, f } = setup();
  fire(page, f.user, "pointerdown", { pointerType: "mouse", button: 0, clientX: 1e12, clientY: -Infinity });
  fire(page, f.user, "pointerup", { pointerType: "mouse", button: 0, clientX: NaN, clientY: "7" });
  const [a, b] = c.session().pointer;
  assert.deepEqual([a.x, a.y, b.x, b.y], [100000, 0, 0, 0]);
});

test("maxMoveHz option; 0 disables the cap", () => {
  for (const [hz, n] of [[125, 5], [50, 2], [0, 40]]) {
    const { page, c } = setup({ maxMoveHz: hz });
    const t0 = page.clock.t;
    page.clock.t = t0 + 39;
    const samples = Array.from({ length: 40 }, (_, i) => ({ timeStamp: t0 + i, clientX: i, clientY: i }));
    fire(page, page.form, "pointermove", { pointerType: "mouse", getCoalescedEvents: coalesced(samples) });
    assert.equal(c.session().pointer.length, n, `maxMoveHz ${hz}`);
  }
});

test("pointerScope element: moves outside the element are not recorded", () => {
  const { page, c } = setup({ pointerScope: "element" });
  const outside = page.doc.createElement("div");
  fire(page, outside, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 1 });
  page.clock.t += 20;
  fire(page, page.fields.user, "pointermove", { pointerType: "mouse", clientX: 2, clientY: 2 });
  assert.deepEqual(c.session().pointer.map((e) => e.x), [2]);
});

test("touch: pointerType touch, small pointer ids, coalesced rate-capped moves", () => {
  const { page, c, f } = setup();
  const down = (id, x) => fire(page, f.user, "pointerdown", { pointerType: "touch", pointerId: id, clientX: x, clientY: 50, pressure: 0.5, width: 10, height: 12 });
  const up = (id, type = "pointerup") => fire(page, f.user, type, { pointerType: "touch", pointerId: id, clientX: 1, clientY: 2, pressure: 0, width: 10, height: 12 });
  down(1001, 10);
  down(2002, 20);
  page.clock.t += 20;
  const t = page.clock.t;
  const samples = [16, 12, 8, 4, 0].map((d) => ({ timeStamp: t - d, clientX: 20 + d, clientY: 50, pressure: 0.123456, width: 200, height: 200 }));
  fire(page, page.form, "pointermove", { pointerType: "touch", pointerId: 2002, getCoalescedEvents: coalesced(samples) });
  fire(page, page.form, "pointermove", { pointerType: "touch", pointerId: 1001, clientX: 11, clientY: 51, pressure: 0.7, width: 1, height: 2 });
  fire(page, page.form, "pointermove", { pointerType: "touch", pointerId: 3003, clientX: 11, clientY: 51 }); // never started here
  up(1001);
  page.clock.t += 5;
  down(3003, 30); // gets the freed id 0
  up(2002, "pointercancel");
  down(4004, 40); // gets the freed id 1
  up(3003);
  up(4004);
  const s = c.session();
  assertContract(s);
  assert.equal(s.pointer.length, 0);
  assert.deepEqual(s.touch.map((e) => [e.type, e.pointer_id, e.t]), [
    ["start", 0, 0], ["start", 1, 0],
    ["move", 1, 4], ["move", 1, 12], ["move", 1, 20],
    ["move", 0, 20], ["end", 0, 20],
    ["start", 0, 25], ["end", 1, 25], ["start", 1, 25], ["end", 0, 25], ["end", 1, 25],
  ]);
  assert.deepEqual(s.touch[2], { t: 4, type: "move", x: 36, y: 50, pressure: 0.123, area: 10000, pointer_id: 1 });
  assert.deepEqual(s.touch[0], { t: 0, type: "start", x: 10, y: 50, pressure: 0.5, area: 120, pointer_id: 0 });
});

test("touch: at most 64 simultaneous contacts", () => {
  const { page, c, f } = setup();
  for (let i = 0; i < 70; i++) fire(page, f.user, "pointerdown", { pointerType: "touch", pointerId: i + 100, clientX: 0, clientY: 0 });
  const ids = c.session().touch.map((e) => e.pointer_id);
  assert.equal(ids.length, 64);
  assert.deepEqual(ids, Array.from({ length: 64 }, (_, i) => i));
});

test("t is non-decreasing per modality, clamped to [0, 1 h], rounded to 0.1 ms", () => {
  const { page, c, f } = setup();
  const t0 = page.clock.t;
  page.clock.t = t0 + 100.04;
  fire(page, f.user, "keydown", { code: "KeyA" });
  fire(page, f.user, "keyup", { code: "KeyA", timeStamp: t0 + 50 }); // earlier timeStamp: raised to the last t
  fire(page, f.user, "keydown", { code: "KeyB", timeStamp: t0 - 500 }); // before the session start
  fire(page, f.user, "keyup", { code: "KeyB", timeStamp: 1.7e12 }); // an epoch timeStamp: falls back to now
  fire(page, f.user, "keydown", { code: "KeyC", timeStamp: NaN });
  page.clock.t = t0 + 2 * 3600000;
  fire(page, f.user, "keyup", { code: "KeyC" });
  assert.deepEqual(c.session().keystrokes.map((e) => e.t), [100, 100, 100, 100, 100, 3600000]);
  // Modalities are ordered independently.
  page.clock.t = t0 + 10;
  fire(page, f.user, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 1 });
  page.clock.t = t0 + 5;
  fire(page, f.user, "pointerdown", { pointerType: "mouse", button: 0, clientX: 1, clientY: 1 });
  assert.deepEqual(c.session().pointer.map((e) => e.t), [10, 10]);
});

test("bounded buffers: 100,000 events per modality keep the body under the API's limits", () => {
  const { page, c, f } = setup();
  const t0 = page.clock.t;
  for (let i = 0; i < 100000; i++) {
    page.clock.t = t0 + i * 10;
    // Hand-built events straight on the listeners' targets (faster than fire()).
    const kd = new Event("keydown");
    Object.defineProperty(kd, "code", { value: "KeyA" });
    page.form.dispatchEvent(kd);
    const ku = new Event("keyup");
    Object.defineProperty(ku, "code", { value: "KeyA" });
    page.form.dispatchEvent(ku);
  }
  const k = c.session().keystrokes;
  assert.equal(k.length, 5000);
  assert.deepEqual(types(k.slice(-2)), ["down", "up"]);
  assert.equal(k.filter((e) => e.type === "down").length, 2500);
  assert.deepEqual(k.slice(-2).map((e) => e.press), [2499, 2499]);

  // A key held while the buffer fills: its up still fits (space was reserved).
  c.reset();
  const kd = (code) => Object.defineProperty(new Event("keydown"), "code", { value: code });
  const ku = (code) => Object.defineProperty(new Event("keyup"), "code", { value: code });
  page.form.dispatchEvent(kd("ShiftLeft"));
  for (let i = 0; i < 100000; i++) {
    page.form.dispatchEvent(kd("KeyA"));
    page.form.dispatchEvent(ku("KeyA"));
  }
  page.form.dispatchEvent(ku("ShiftLeft"));
  const k2 = c.session().keystrokes;
  assert.equal(k2.length, 5000);
  assert.deepEqual(k2.at(-1), { t: 0, type: "up", press: 0, key_class: 4 });
  assert.equal(k2.filter((e) => e.type === "up").length, 2500);

  // Worst-case pointer and touch events (longest JSON): long visit, far coordinates.
  c.reset();
  for (let i = 0; i < 100000; i++) {
    page.clock.t = t0 + 3600000 * 2 - 0.1 + i; // past the session limit: t = 3600000
    const e = (type, props) => Object.assign(Object.defineProperty(new Event(type), "timeStamp", { value: page.clock.t }), props);
    page.doc.dispatchEvent(e("pointermove", { pointerType: "mouse", clientX: -99999.94, clientY: -99999.94 }));
    page.form.dispatchEvent(e("wheel", { deltaY: -99999.94, clientX: -99999.94, clientY: -99999.94 }));
    page.form.dispatchEvent(e("pointerdown", { pointerType: "touch", pointerId: i % 200, clientX: -99999.94, clientY: -99999.94, pressure: 0.1234, width: 99.99, height: 99.99 }));
    page.doc.dispatchEvent(e("pointermove", { pointerType: "touch", pointerId: i % 200, clientX: -99999.94, clientY: -99999.94, pressure: 0.1234, width: 99.99, height: 99.99 }));
    if (i % 3 === 0) page.form.dispatchEvent(e("pointerup", { pointerType: "touch", pointerId: i % 200, clientX: -99999.94, clientY: -99999.94, pressure: 0.1234, width: 99.99, height: 99.99 }));
  }
  const s = c.session();
  assertContract(s);
  assert.equal(s.pointer.length, 5000);
  assert.equal(s.touch.length, 5000);
  // Add a worst-case keystroke stream and measure the whole body.
  const body = JSON.stringify({ ...s, keystrokes: Array.from({ length: 5000 }, (_, i) => ({ t: 3599999.9, type: "down", press: 19999 - i, key_class: 7 })) });
  const bytes = Buffer.byteLength(body);
  assert.ok(bytes < 2000000, `body of ${bytes} bytes`);
});

test("maxEventsPerModality option, capped so that a body stays under 2 MB", () => {
  const { page, c, f } = setup({ maxEventsPerModality: 10 });
  for (let i = 0; i < 20; i++) tap(page, f.user, "KeyA");
  assert.equal(c.session().keystrokes.length, 10);
  const big = setup({ maxEventsPerModality: 1e9 });
  for (let i = 0; i < 10000; i++) big.page.form.dispatchEvent(Object.assign(new Event("wheel"), { deltaY: 1 }));
  assert.equal(big.c.session().pointer.length, 6000);
  // At the cap, a body of the longest events of every modality still fits in 2,000,000 bytes.
  const k = { t: 3599999.9, type: "down", press: 19999, key_class: 7 };
  const p = { t: 3599999.9, type: "wheel", x: -99999.9, y: -99999.9, button: "middle", delta_y: -99999.9 };
  const t = { t: 3599999.9, type: "start", x: -99999.9, y: -99999.9, pressure: 0.123, area: 9999.9, pointer_id: 63 };
  const worst = { ...big.c.session(), keystrokes: Array(6000).fill(k), pointer: Array(6000).fill(p), touch: Array(6000).fill(t),
    signals: { paste: 10000, autofill: 10000 } };
  assert.ok(Buffer.byteLength(JSON.stringify(worst)) < 2000000);
});

test("reset: new UUID, empty buffers, new start time", () => {
  const { page, c, f } = setup();
  tap(page, f.user, "KeyA");
  fire(page, f.user, "pointerdown", { pointerType: "touch", pointerId: 1, clientX: 0, clientY: 0 });
  fire(page, f.user, "paste", {});
  const a = c.session();
  page.clock.t += 10000;
  c.reset();
  const b = c.session();
  assert.notEqual(a.session_id, b.session_id);
  assert.match(b.session_id, UUID4);
  assert.deepEqual([b.keystrokes, b.pointer, b.touch], [[], [], []]);
  assert.deepEqual(b.signals, { paste: 0, autofill: 0 });
  page.clock.t += 3;
  tap(page, f.user, "KeyB");
  assert.deepEqual(c.session().keystrokes.map((e) => e.t), [3, 83]);
  // The touch contact from before the reset has no start in this session: its moves are dropped.
  fire(page, f.user, "pointermove", { pointerType: "touch", pointerId: 1, clientX: 0, clientY: 0 });
  assert.equal(c.session().touch.length, 0);
});

test("session ids: crypto.randomUUID, getRandomValues fallback, Math.random fallback", () => {
  const page = makePage();
  const ids = new Set();
  for (let i = 0; i < 50; i++) ids.add(createCollector({ now: page.now, window: page.window }).session().session_id);
  assert.equal(ids.size, 50);
  const viaGrv = createCollector({ crypto: { getRandomValues: (b) => globalThis.crypto.getRandomValues(b) } });
  assert.match(viaGrv.session().session_id, UUID4);
  const fixed = createCollector({ crypto: { getRandomValues: (b) => b.fill(0xff) } });
  assert.equal(fixed.session().session_id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
  assert.match(createCollector({ crypto: null }).session().session_id, UUID4);
});

test("meta: device type from UA hints, pointer: coarse and screen size", () => {
  const cases = [
    [{ coarse: false }, "desktop"],
    [{ coarse: true, width: 390, height: 844 }, "mobile"],
    [{ coarse: true, width: 1024, height: 1366 }, "tablet"],
    [{ coarse: true, width: 0, height: 0 }, "unknown"],
    [{ mobile: true, coarse: true, width: 800, height: 1280 }, "mobile"],
    [{ mobile: false, coarse: true, width: 800, height: 1280 }, "tablet"],
  ];
  for (const [opts, want] of cases) {
    const page = makePage(opts);
    assert.equal(createCollector({ window: page.window }).session().meta.device_type, want, JSON.stringify(opts));
  }
  assert.deepEqual(createCollector({ window: null }).session().meta, { device_type: "unknown", screen_width: 0, screen_height: 0 });
  assert.deepEqual(createCollector({ window: { navigator: { userAgentData: { mobile: false } } } }).session().meta,
    { device_type: "desktop", screen_width: 0, screen_height: 0 });
  const odd = { screen: { width: 1e6, height: 812.6 }, matchMedia: () => { throw new Error("no"); } };
  assert.deepEqual(createCollector({ window: odd }).session().meta, { device_type: "unknown", screen_width: 20000, screen_height: 813 });
});

test("attach: capture-phase passive listeners; detach removes them all", () => {
  const page = makePage();
  const calls = [];
  for (const node of [page.form, page.doc]) {
    const add = node.addEventListener.bind(node);
    node.addEventListener = (type, fn, opts) => {
      calls.push([node === page.doc ? "doc" : "form", type, opts.capture, opts.passive]);
      add(type, fn, opts);
    };
  }
  const c = createCollector({ now: page.now, window: page.window });
  const off = c.attach(page.form);
  assert.ok(calls.every(([, , capture, passive]) => capture === true && passive === true));
  assert.deepEqual(calls.filter(([n]) => n === "doc").map(([, t]) => t), ["pointermove"]);
  for (const t of ["keydown", "keyup", "paste", "input", "pointerdown", "pointerup", "pointercancel", "wheel"]) {
    assert.ok(calls.some(([n, type]) => n === "form" && type === t), t);
  }
  off();
  off(); // idempotent
  tap(page, page.fields.user, "KeyA");
  fire(page, page.fields.user, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 1 });
  assert.equal(c.session().keystrokes.length + c.session().pointer.length, 0);
  // Two forms; detach() removes both.
  const other = page.doc.createElement("form");
  c.attach(page.form);
  c.attach(other);
  tap(page, other, "KeyA");
  assert.equal(c.session().keystrokes.length, 2);
  c.detach();
  tap(page, other, "KeyA");
  tap(page, page.form, "KeyA");
  assert.equal(c.session().keystrokes.length, 2);
  assert.throws(() => c.attach(null), TypeError);
});

test("attach(document) listens on the document itself", () => {
  const page = makePage();
  const c = createCollector({ now: page.now, window: page.window });
  c.attach(page.doc);
  tap(page, page.fields.user, "KeyA");
  fire(page, page.fields.user, "pointermove", { pointerType: "mouse", clientX: 1, clientY: 1 });
  assert.equal(c.session().keystrokes.length, 2);
  assert.equal(c.session().pointer.length, 1);
});
