"""What the collector costs per event in Chromium: synthetic events dispatched inside the demo page.

    python bench/collector_cost.py [--events 50000] [--repeats 5]

Opens the demo login page (``serving.demo_site``; no scoring API is needed) in headless
Debian chromium and, inside the page, dispatches N synthetic events to the attached form
in a fixed mix (per 8: a key down and up on the username field, 4 pointer moves over the
form, a pointer down and up), timing the loop with ``performance.now()``:

* ``dispatch_only``: no collector attached (the browser's own event dispatch and the
  loop that makes the events);
* ``collector_recording``: a collector made with ``createCollector({maxMoveHz: 0})``, so
  every event is recorded (reset every 4,000 events, below the per-modality cap, so none is
  dropped; the resets are inside the timed loop);
* ``collector_default``: the page's own default collector (moves capped at 125 per second,
  as in production: most synthetic moves, which come faster than that, are dropped early).

The collector's own cost per event is the difference to ``dispatch_only``; the median of
``--repeats`` runs is reported. Also timed: ``JSON.stringify(session())`` of a full session
(5,000 key and 5,000 pointer events). Prints one JSON line and writes
``bench/results/collector_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import browser_sim as sim

OUT = ROOT / "bench" / "results" / "collector_cost.json"

# Runs inside the page. mode: "none" | "recording" | "default". Returns elapsed ms.
_RUN = """
([n, mode]) => {
  const C = window.BiometricsCollector;
  const form = document.getElementById("login");
  const user = document.getElementById("username");
  const box = form.getBoundingClientRect();
  C.detach();
  let col = null;
  if (mode === "recording") { col = C.createCollector({ maxMoveHz: 0 }); col.attach(form); }
  if (mode === "default") { C.reset(); C.attach(form); }
  const codes = ["KeyA", "KeyS", "KeyD", "KeyF", "KeyJ", "KeyK", "KeyL", "Digit5", "Space", "Period"];
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = i & 7;
    if (k === 0 || k === 1) {
      const ev = new KeyboardEvent(k === 0 ? "keydown" : "keyup",
                                   { code: codes[(i >> 3) % codes.length], bubbles: true, cancelable: true });
      user.dispatchEvent(ev);
    } else {
      const type = k < 6 ? "pointermove" : k === 6 ? "pointerdown" : "pointerup";
      const ev = new PointerEvent(type, { pointerType: "mouse", pointerId: 1, isPrimary: true, bubbles: true,
                                          clientX: box.left + (i * 7) % box.width,
                                          clientY: box.top + (i * 13) % box.height, button: k < 6 ? -1 : 0 });
      form.dispatchEvent(ev);
    }
    if (col !== null && i % 4000 === 3999) { sink += col.session().pointer.length; col.reset(); }
  }
  const ms = performance.now() - t0;
  if (col !== null) col.detach();
  if (mode === "default") { C.reset(); }
  window.__sink = sink;
  return ms;
}
"""

# A full session (5,000 key + 5,000 pointer events) serialised as the page sends it.
_SESSION_JSON = """
() => {
  const C = window.BiometricsCollector;
  const form = document.getElementById("login");
  const user = document.getElementById("username");
  C.detach();
  const col = C.createCollector({ maxMoveHz: 0 });
  col.attach(form);
  for (let i = 0; i < 2500; i++) {
    user.dispatchEvent(new KeyboardEvent("keydown", { code: "KeyA", bubbles: true }));
    user.dispatchEvent(new KeyboardEvent("keyup", { code: "KeyA", bubbles: true }));
  }
  for (let i = 0; i < 5000; i++) {
    form.dispatchEvent(new PointerEvent("pointermove", { pointerType: "mouse", bubbles: true,
                                                         clientX: 10 + i % 300, clientY: 10 + i % 200 }));
  }
  const times = [];
  let bytes = 0, nk = 0, np = 0;
  for (let r = 0; r < 20; r++) {
    const t0 = performance.now();
    const s = col.session();
    const body = JSON.stringify(s);
    times.push(performance.now() - t0);
    bytes = body.length; nk = s.keystrokes.length; np = s.pointer.length;
  }
  col.detach();
  C.attach(form);
  times.sort((a, b) => a - b);
  return { ms_median: times[10], bytes, keystrokes: nk, pointer: np };
}
"""


def measure(n_events: int, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    from serving.demo_site import running_site

    with running_site("http://127.0.0.1:9", "unused-key") as site, sync_playwright() as p:
        browser = sim.launch_chromium(p)
        page = browser.new_page(viewport=sim.VIEWPORT)
        page.goto(site + "/")
        page.wait_for_selector("body[data-collector=attached]")
        version = browser.version
        page.evaluate(_RUN, [5000, "recording"])  # warm-up (JIT)
        page.evaluate(_RUN, [5000, "none"])
        runs: dict[str, list[float]] = {"none": [], "recording": [], "default": []}
        for _ in range(repeats):
            for mode, times in runs.items():
                times.append(page.evaluate(_RUN, [n_events, mode]))
        serial = page.evaluate(_SESSION_JSON)
        browser.close()
    ms = {m: statistics.median(v) for m, v in runs.items()}
    us = {m: 1000.0 * v / n_events for m, v in ms.items()}
    own = {m: us[m] - us["none"] for m in ("recording", "default")}
    return {
        "bench": "collector_cost", "browser": f"chromium {version} headless", "events": n_events,
        "repeats": repeats, "mix_per_8": "key down+up, 4 pointer moves, pointer down+up",
        "dispatch_only_us_per_event": round(us["none"], 3),
        "collector_recording_us_per_event": round(us["recording"], 3),
        "collector_default_us_per_event": round(us["default"], 3),
        "collector_own_us_per_event": round(own["recording"], 3),
        "collector_own_us_per_event_default": round(own["default"], 3),
        "events_per_s_with_collector": round(n_events / (ms["recording"] / 1000.0)),
        "collector_events_per_s": round(1e6 / own["recording"]) if own["recording"] > 0 else None,
        "session_json_ms": round(serial["ms_median"], 3), "session_json_bytes": serial["bytes"],
        "session_json_events": serial["keystrokes"] + serial["pointer"],
        "runs_ms": {m: [round(x, 2) for x in v] for m, v in runs.items()},
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    why = sim.playwright_missing() or sim.collector_missing()
    if why:
        raise SystemExit(f"collector_cost: {why}")
    result = measure(args.events, args.repeats)
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
