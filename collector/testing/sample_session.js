// Prints one session (JSON, contract v2) that the collector builds over fake events:
// typing a username and a password, mouse moves (coalesced), a click, a wheel scroll,
// a two-finger touch, a paste and an autofill. Used by tests/test_collector_keymap.py.
//
//   node collector/testing/sample_session.js [path/to/collector.js]

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { makePage, fire, tap, coalesced } from "./fakedom.js";

const src = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : "../src/collector.js";
const { createCollector } = await import(src);

const page = makePage({ width: 1440, height: 900 });
const c = createCollector({ now: page.now, window: page.window });
c.attach(page.form);
const { user, password } = page.fields;

for (const code of ["KeyA", "KeyL", "KeyI", "KeyC", "KeyE", "Digit7", "Period", "F13"]) tap(page, user, code);
fire(page, user, "keydown", { code: "ShiftLeft" });
page.clock.t += 30;
tap(page, user, "KeyB");
fire(page, user, "keyup", { code: "ShiftLeft" });
for (const code of ["KeyS", "KeyE", "KeyC", "KeyR", "KeyE", "KeyT", "Enter"]) tap(page, password, code);

let x = 100;
for (let i = 0; i < 20; i++) {
  const t = page.clock.t;
  fire(page, page.form, "pointermove", {
    pointerType: "mouse", clientX: x, clientY: 200,
    getCoalescedEvents: coalesced([12, 8, 4, 0].map((d) => ({ timeStamp: t - d, clientX: x - d / 4, clientY: 200 - d / 8 }))),
  });
  x += 4;
  page.clock.t += 16;
}
fire(page, password, "pointerdown", { pointerType: "mouse", button: 0, clientX: x, clientY: 210 });
page.clock.t += 90;
fire(page, password, "pointerup", { pointerType: "mouse", button: 0, clientX: x, clientY: 210 });
fire(page, page.form, "wheel", { deltaY: 3, deltaMode: 1, clientX: x, clientY: 210 });
for (const id of [41, 97]) fire(page, user, "pointerdown", { pointerType: "touch", pointerId: id, clientX: 50, clientY: 60, pressure: 0.5, width: 20, height: 22 });
page.clock.t += 10;
fire(page, user, "pointermove", { pointerType: "touch", pointerId: 97, clientX: 55, clientY: 66, pressure: 0.6, width: 20, height: 22 });
page.clock.t += 10;
for (const id of [41, 97]) fire(page, user, "pointerup", { pointerType: "touch", pointerId: id, clientX: 55, clientY: 66, pressure: 0, width: 20, height: 22 });
fire(page, user, "paste", {});
fire(page, password, "input", {});

process.stdout.write(JSON.stringify(c.session()) + "\n");
