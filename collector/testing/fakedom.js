// A tiny fake DOM on Node's EventTarget / Event (no jsdom), for the collector's tests and
// for testing/sample_session.js. Events "propagate" by dispatching a fresh copy on the
// target and on each ancestor up to the document; every copy carries the same
// properties, target and composedPath().

/** Properties a collector must never read: reading any of them throws and is logged. */
export const FORBIDDEN_EVENT_PROPS = ["key", "keyCode", "which", "char", "charCode", "data"];

export const forbiddenReads = [];

export class FakeElement extends EventTarget {
  constructor(tag, attrs = {}, parent = null, doc = null) {
    super();
    this.tagName = tag.toUpperCase();
    this.nodeType = 1;
    this.attrs = { ...attrs };
    this.parentNode = parent;
    this.ownerDocument = doc;
    this.children = [];
    if (parent && parent.children) parent.children.push(this);
  }
  getAttribute(name) {
    return Object.prototype.hasOwnProperty.call(this.attrs, name) ? String(this.attrs[name]) : null;
  }
  setAttribute(name, v) {
    this.attrs[name] = String(v);
  }
  get value() {
    forbiddenReads.push("value");
    throw new Error("the collector must never read a field's value");
  }
  querySelectorAll() {
    const out = [];
    const walk = (n) => {
      for (const c of n.children) {
        out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  /** A child element. */
  add(tag, attrs = {}) {
    return new FakeElement(tag, attrs, this, this.ownerDocument);
  }
}

export class FakeDocument extends EventTarget {
  constructor() {
    super();
    this.nodeType = 9;
    this.children = [];
  }
  createElement(tag, attrs = {}) {
    return new FakeElement(tag, attrs, this, this);
  }
}

/**
 * A fake page: document > form > inputs, a controllable clock (clock.t, ms on the
 * performance.now() clock) and a window-like object with screen and matchMedia.
 */
export function makePage({ t0 = 1000, width = 1920, height = 1080, coarse = false, mobile } = {}) {
  const doc = new FakeDocument();
  const form = doc.createElement("form");
  const fields = {
    user: form.add("input", { type: "text", name: "user", autocomplete: "username" }),
    password: form.add("input", { type: "password", name: "password" }),
    otp: form.add("input", { type: "text", autocomplete: "one-time-code" }),
    marked: form.add("input", { type: "text", "data-biometrics": "sensitive" }),
    card: form.add("input", { type: "text", autocomplete: "billing cc-number" }),
    note: form.add("textarea", {}),
  };
  const clock = { t: t0 };
  const window = {
    screen: { width, height },
    navigator: mobile === undefined ? {} : { userAgentData: { mobile } },
    matchMedia: (q) => ({ matches: q === "(pointer: coarse)" ? coarse : false }),
  };
  const uuids = { n: 0 };
  return { doc, form, fields, clock, window, now: () => clock.t, uuids };
}

function pathOf(target) {
  const path = [];
  for (let n = target; n; n = n.parentNode) path.push(n);
  return path;
}

function makeEvent(type, target, path, props) {
  const ev = new Event(type, { bubbles: true, cancelable: true });
  const { timeStamp, ...rest } = props;
  for (const [k, v] of Object.entries(rest)) Object.defineProperty(ev, k, { value: v, configurable: true });
  if (timeStamp !== undefined) Object.defineProperty(ev, "timeStamp", { value: timeStamp, configurable: true });
  Object.defineProperty(ev, "target", { value: target, configurable: true });
  Object.defineProperty(ev, "composedPath", { value: () => path.slice(), configurable: true });
  for (const k of FORBIDDEN_EVENT_PROPS) {
    if (k in rest) continue;
    Object.defineProperty(ev, k, {
      configurable: true,
      get() {
        forbiddenReads.push(k);
        throw new Error(`the collector must never read event.${k}`);
      },
    });
  }
  return ev;
}

/**
 * Dispatch `type` at `target` and on each of its ancestors (a fresh Event copy each, so
 * a listener on the form or the document sees it once). props become own properties of
 * the event; timeStamp defaults to page.clock.t.
 */
export function fire(page, target, type, props = {}) {
  const path = pathOf(target);
  const full = { timeStamp: page.clock.t, ...props };
  for (const node of path) node.dispatchEvent(makeEvent(type, target, path, full));
}

/** keydown + keyup of one physical key, `hold` ms apart, then advance the clock by `gap` ms. */
export function tap(page, target, code, { hold = 80, gap = 60 } = {}) {
  fire(page, target, "keydown", { code, repeat: false, isComposing: false });
  page.clock.t += hold;
  fire(page, target, "keyup", { code, repeat: false, isComposing: false });
  page.clock.t += gap;
}

/** A coalesced-events list as PointerEvent.getCoalescedEvents() returns it (plain objects). */
export function coalesced(list) {
  return () => list.map((p) => ({ ...p }));
}
