// Browser collector for the behavioral-biometrics session contract v2
// (biometrics/events.py: Session). It records *how* a person types, points and swipes,
// never *what* they type:
//
// * a key event is {t, type, press, key_class}: the class comes from KeyboardEvent.code
//   through keymap.js (8 coarse values); every key of a sensitive field is class 7
//   (MASKED); press numbers the presses 0, 1, 2, ... in down order (a down and its up share it).
//   The collector never reads event.key / keyCode / which / char or any field's value;
// * paste and autofill are counted (signals), never recorded as keystrokes;
// * mouse / pen pointer events and touch contacts carry position and timing only.
//
// No network calls and no global state besides the lazily created default instance:
// the page's own code posts session() to its own back end.

import { KEY_CLASS, keyClassOfCode } from "./keymap.js";

export const SCHEMA_VERSION = 2;

const MAX_SESSION_MS = 3600000; // contract: MAX_SESSION_MS
const MAX_COORD = 100000; // contract: MAX_COORD
const MAX_SIGNAL = 10000; // contract: SessionSignals le
const MAX_SCREEN = 20000; // contract: SessionMeta le
const MAX_TOUCH_IDS = 64; // contract: pointer_id < 64
// Hard cap on maxEventsPerModality: the server accepts 20,000 events per modality but at
// most 2,000,000 bytes per body; 3 x 6,000 events of the longest JSON form stay under it.
const MAX_EVENTS_CAP = 6000;

const SENSITIVE_AUTOCOMPLETE = ["one-time-code", "cc-number", "cc-csc", "current-password", "new-password"];
// Text-like input types whose plain (non-InputEvent) `input` events mean a browser /
// password-manager fill. Checkboxes, radios, selects, ranges, dates fire plain `input`
// events on ordinary clicks and are not counted.
const TEXT_INPUT_TYPES = ["", "text", "email", "password", "tel", "url", "search"];
const BUTTONS = ["left", "middle", "right"]; // PointerEvent.button 0, 1, 2
const WHEEL_MODE_PX = [1, 16, 800]; // deltaMode pixel, line, page

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const clamp = (v, lo, hi) => (v < lo ? lo : v > hi ? hi : v);
const r1 = (v) => Math.round(v * 10) / 10;
const coord = (v) => r1(clamp(num(v), -MAX_COORD, MAX_COORD));
const int = (v, hi) => clamp(Math.round(num(v)), 0, hi);

function lowerAttr(el, name) {
  const v = el.getAttribute(name);
  return typeof v === "string" ? v.toLowerCase() : "";
}

const isElement = (el) => !!el && typeof el.getAttribute === "function";
const tagOf = (el) => (typeof el.tagName === "string" ? el.tagName.toLowerCase() : "");

/** Whether a field's keys must be masked: decided from the element's attributes only. */
export function isSensitiveElement(el) {
  for (let n = el, depth = 0; isElement(n) && depth < 32; n = n.parentNode, depth++) {
    if (lowerAttr(n, "data-biometrics") === "sensitive") return true;
    if (n !== el) continue;
    if (tagOf(n) === "input" && lowerAttr(n, "type") === "password") return true;
    const ac = lowerAttr(n, "autocomplete").split(/\s+/);
    if (SENSITIVE_AUTOCOMPLETE.some((tok) => ac.includes(tok))) return true;
  }
  return false;
}

function hex(bytes) {
  let s = "";
  for (let i = 0; i < 16; i++) {
    s += (bytes[i] + 256).toString(16).slice(1);
    if (i === 3 || i === 5 || i === 7 || i === 9) s += "-";
  }
  return s;
}

/** A random UUID v4: crypto.randomUUID(), else crypto.getRandomValues, else Math.random. */
function uuid4(cr) {
  if (cr && typeof cr.randomUUID === "function") return cr.randomUUID();
  const b = new Uint8Array(16);
  if (cr && typeof cr.getRandomValues === "function") cr.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0; // an id, not a secret
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return hex(b);
}

/** "desktop" | "mobile" | "tablet" | "unknown" from UA client hints, pointer media query and screen size. */
function deviceType(win, w, h) {
  const nav = win && win.navigator;
  const uaMobile = nav && nav.userAgentData ? nav.userAgentData.mobile : undefined;
  let coarse;
  try {
    if (win && typeof win.matchMedia === "function") coarse = !!win.matchMedia("(pointer: coarse)").matches;
  } catch (_) {
    /* matchMedia unavailable */
  }
  const short = Math.min(w, h);
  if (uaMobile === true) return "mobile";
  if (coarse === true) return short > 0 ? (short >= 600 ? "tablet" : "mobile") : "unknown";
  if (coarse === false || uaMobile === false) return "desktop";
  return "unknown";
}

/**
 * A collector with its own buffers and session id.
 *
 * options:
 * - maxEventsPerModality (5000; capped at 6000): events kept per modality, later ones dropped
 * - maxMoveHz (125): pointer / touch moves kept per second at most (0 = no cap)
 * - pointerScope ("document"): listen for pointer moves on the attached element's
 *   document, or only on the element ("element")
 * - now, window, document, crypto: injectable clock and environment (tests)
 */
export function createCollector(options = {}) {
  const g = globalThis;
  const win = options.window !== undefined ? options.window : g.window;
  const cr = options.crypto !== undefined ? options.crypto : g.crypto;
  const perf = g.performance;
  const now = options.now || (() => (perf ? perf.now() : Date.now()));
  const maxEvents = int(options.maxEventsPerModality == null ? 5000 : options.maxEventsPerModality, MAX_EVENTS_CAP);
  const hz = num(options.maxMoveHz == null ? 125 : options.maxMoveHz);
  const minMoveGap = hz > 0 ? 1000 / hz : 0;
  const pointerScope = options.pointerScope === "element" ? "element" : "document";

  let sessionId, start, keys, pointer, touch, paste, autofill;
  let lastT; // per modality, for the non-decreasing rule
  let held; // KeyboardEvent.code -> [press, key_class] of keys whose down was recorded (pairing only, never output)
  let presses; // presses recorded so far: the next press id
  let touchIds; // browser pointerId -> small index 0..63 of active touch contacts
  let lastMove; // modality/contact -> relative ms of the last kept move (rate cap)
  let filled; // fields counted as autofilled
  let composing = false;
  const sensitiveSeen = new WeakSet(); // fields seen sensitive once stay masked (show-password toggles)
  const detachers = new Set();

  function reset() {
    sessionId = uuid4(cr);
    start = now();
    keys = [];
    presses = 0;
    pointer = [];
    touch = [];
    paste = autofill = 0;
    lastT = { k: 0, p: 0, t: 0 };
    held = new Map();
    touchIds = new Map();
    lastMove = new Map();
    filled = new WeakSet();
    composing = false;
  }
  reset();

  // Milliseconds since the session start of an event: its timeStamp (the performance.now()
  // clock) when plausible, else the clock now. Not rounded, not ordered.
  function rel(ev) {
    const n = now();
    const ts = ev && ev.timeStamp;
    const abs = typeof ts === "number" && Number.isFinite(ts) && ts > 0 && ts <= n + 1 ? ts : n;
    const t = abs - start;
    return Number.isFinite(t) ? t : 0;
  }
  // Rounded to 0.1 ms, clamped to the session limit, non-decreasing within the modality.
  function stamp(m, t) {
    const v = Math.max(r1(clamp(t, 0, MAX_SESSION_MS)), lastT[m]);
    lastT[m] = v;
    return v;
  }

  function targetOf(ev) {
    const path = typeof ev.composedPath === "function" ? ev.composedPath() : null;
    const el = path && path.length && isElement(path[0]) ? path[0] : ev.target;
    return isElement(el) ? el : null;
  }
  function sensitive(el) {
    if (!el) return false;
    if (sensitiveSeen.has(el)) return true;
    if (!isSensitiveElement(el)) return false;
    sensitiveSeen.add(el);
    return true;
  }

  // ---- keys ----
  function onKeyDown(ev) {
    const code = ev.code;
    if (ev.repeat || ev.isComposing || composing || held.has(code)) return; // auto-repeat, IME
    // Reserve room for this key's up so that downs and ups stay paired.
    if (keys.length + held.size + 2 > maxEvents) return;
    const el = targetOf(ev);
    const kc = sensitive(el) ? KEY_CLASS.MASKED : keyClassOfCode(code);
    const press = presses++;
    held.set(code, [press, kc]);
    keys.push({ t: stamp("k", rel(ev)), type: "down", press, key_class: kc });
  }
  function onKeyUp(ev) {
    const code = ev.code;
    if (!held.has(code)) return; // its down was not recorded (before attach, dropped, IME)
    const [press, kc] = held.get(code); // same press and class as its down (e.g. Tab out of a password field)
    held.delete(code);
    keys.push({ t: stamp("k", rel(ev)), type: "up", press, key_class: kc });
  }
  const onCompositionStart = () => {
    composing = true;
  };
  const onCompositionEnd = () => {
    composing = false;
  };

  // ---- signals ----
  const onPaste = () => {
    paste = Math.min(paste + 1, MAX_SIGNAL);
  };
  function countFill(el) {
    if (!el || filled.has(el)) return;
    filled.add(el);
    autofill = Math.min(autofill + 1, MAX_SIGNAL);
  }
  function onInput(ev) {
    // Browser autofill and password managers fill a field with a plain `input` Event (no
    // inputType) or an InputEvent of inputType "insertReplacementText". Counted once per field.
    const el = targetOf(ev);
    if (!el || tagOf(el) !== "input") return;
    const it = ev.inputType;
    if (it === "insertReplacementText" || ((it === undefined || it === "") && TEXT_INPUT_TYPES.includes(lowerAttr(el, "type")))) {
      countFill(el);
    }
  }
  function onAnimationStart(ev) {
    // Optional page CSS hook: input:-webkit-autofill { animation-name: onAutoFillStart }.
    if (ev.animationName === "onAutoFillStart") countFill(targetOf(ev));
  }

  // ---- pointer and touch ----
  function moveAllowed(key, t) {
    const last = lastMove.get(key);
    if (last !== undefined && t - last < minMoveGap) return false;
    lastMove.set(key, t);
    return true;
  }
  function movesOf(ev) {
    let list = null;
    try {
      if (typeof ev.getCoalescedEvents === "function") list = ev.getCoalescedEvents();
    } catch (_) {
      list = null;
    }
    return list && list.length ? list : [ev];
  }
  function pushPointer(type, e, t, button, dy) {
    if (pointer.length >= maxEvents) return;
    pointer.push({ t: stamp("p", t), type, x: coord(e.clientX), y: coord(e.clientY), button, delta_y: dy });
  }
  function pushTouch(type, e, t, id) {
    touch.push({
      t: stamp("t", t),
      type,
      x: coord(e.clientX),
      y: coord(e.clientY),
      pressure: Math.round(clamp(num(e.pressure), 0, 10) * 1000) / 1000,
      area: r1(clamp(num(e.width) * num(e.height), 0, 10000)),
      pointer_id: id,
    });
  }
  const kindOf = (ev) => (ev.pointerType === "touch" ? "touch" : ev.pointerType === "mouse" || ev.pointerType === "pen" ? "mouse" : "");

  function onPointerDown(ev) {
    const kind = kindOf(ev);
    if (kind === "mouse") pushPointer("down", ev, rel(ev), BUTTONS[ev.button] || "none", 0);
    else if (kind === "touch") {
      if (touchIds.has(ev.pointerId)) return;
      // Reserve room for this contact's end, as for keys.
      if (touch.length + touchIds.size + 2 > maxEvents) return;
      const used = new Set(touchIds.values());
      let id = 0;
      while (id < MAX_TOUCH_IDS && used.has(id)) id++;
      if (id === MAX_TOUCH_IDS) return;
      touchIds.set(ev.pointerId, id);
      pushTouch("start", ev, rel(ev), id);
    }
  }
  function onPointerMove(ev) {
    const kind = kindOf(ev);
    if (kind === "mouse") {
      for (const e of movesOf(ev)) {
        const t = rel(e);
        if (pointer.length < maxEvents && moveAllowed("p", t)) pushPointer("move", e, t, "none", 0);
      }
    } else if (kind === "touch") {
      const id = touchIds.get(ev.pointerId);
      if (id === undefined) return; // a contact that did not start on the attached element
      for (const e of movesOf(ev)) {
        const t = rel(e);
        if (touch.length + touchIds.size + 1 <= maxEvents && moveAllowed(id, t)) pushTouch("move", e, t, id);
      }
    }
  }
  function onPointerUp(ev) {
    const kind = kindOf(ev);
    if (kind === "mouse") {
      if (ev.type === "pointerup") pushPointer("up", ev, rel(ev), BUTTONS[ev.button] || "none", 0);
    } else if (kind === "touch") {
      const id = touchIds.get(ev.pointerId);
      if (id === undefined) return;
      touchIds.delete(ev.pointerId);
      lastMove.delete(id);
      pushTouch("end", ev, rel(ev), id);
    }
  }
  function onWheel(ev) {
    const dy = num(ev.deltaY) * (WHEEL_MODE_PX[ev.deltaMode] || 1);
    pushPointer("wheel", ev, rel(ev), "none", coord(dy));
  }

  function attach(target) {
    if (!target || typeof target.addEventListener !== "function") {
      throw new TypeError("BiometricsCollector.attach: expected a form or element");
    }
    const opts = { capture: true, passive: true };
    const doc = options.document || (target.nodeType === 9 ? target : target.ownerDocument) || target;
    const moveTarget = pointerScope === "element" ? target : doc;
    const on = [
      [target, "keydown", onKeyDown],
      [target, "keyup", onKeyUp],
      [target, "compositionstart", onCompositionStart],
      [target, "compositionend", onCompositionEnd],
      [target, "paste", onPaste],
      [target, "input", onInput],
      [target, "animationstart", onAnimationStart],
      [target, "pointerdown", onPointerDown],
      [target, "pointerup", onPointerUp],
      [target, "pointercancel", onPointerUp],
      [target, "wheel", onWheel],
      [moveTarget, "pointermove", onPointerMove],
    ];
    for (const [el, type, fn] of on) el.addEventListener(type, fn, opts);
    // Remember the sensitive fields now, so a "show password" toggle (type=text) stays masked.
    if (typeof target.querySelectorAll === "function") {
      try {
        for (const el of target.querySelectorAll("input,textarea,[data-biometrics]")) sensitive(el);
      } catch (_) {
        /* not a real DOM */
      }
    }
    let done = false;
    const off = () => {
      if (done) return;
      done = true;
      for (const [el, type, fn] of on) el.removeEventListener(type, fn, opts);
      detachers.delete(off);
    };
    detachers.add(off);
    return off;
  }

  function detach() {
    for (const off of [...detachers]) off();
  }

  function session() {
    const scr = win && win.screen;
    const w = int(scr && scr.width, MAX_SCREEN);
    const h = int(scr && scr.height, MAX_SCREEN);
    return {
      schema_version: SCHEMA_VERSION,
      session_id: sessionId,
      keystrokes: keys.map((e) => ({ ...e })),
      pointer: pointer.map((e) => ({ ...e })),
      touch: touch.map((e) => ({ ...e })),
      signals: { paste, autofill },
      meta: { device_type: deviceType(win, w, h), screen_width: w, screen_height: h },
    };
  }

  return { attach, detach, session, reset };
}

let defaultInstance = null;
const def = () => defaultInstance || (defaultInstance = createCollector());

/** Attach the default collector to a form or element; returns a detach function. */
export const attach = (target) => def().attach(target);
/** Detach the default collector from everything it is attached to. */
export const detach = () => def().detach();
/** The default collector's session: a plain object in the session contract v2. */
export const session = () => def().session();
/** Clear the default collector's buffers; new session id and start time. */
export const reset = () => def().reset();
