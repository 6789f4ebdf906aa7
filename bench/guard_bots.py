"""Bots and scripted people in a real browser, for ``bench/guards.py`` (cached under ``.cache/``).

Headless Debian chromium through Playwright on the demo login page (:mod:`serving.demo_site`,
the collector attached, the scoring API behind it, as in ``tests/test_browser_e2e.py``). Every
sign-in's session is taken from the body the page posts to ``/login``: what a collector
really records for that automation.

* **people**: :class:`browser_sim.Person` (log-normal per-key-pair rhythm, Bezier pointer
  paths with a minimum-jerk speed profile), ``--people`` persons, ``--logins`` sign-ins each;
* **bots**, each sign-in one typing style x one pointer style:
  typing ``type_delay`` (``page.keyboard.type(text, delay=d)``, d drawn per session 40-250 ms)
  or ``press_uniform`` (``page.keyboard.press(key, delay=hold)`` with hold U(40, 140) ms, then
  a uniform random wait of the session's base +-40%); pointer ``straight``
  (``page.mouse.move(x, y, steps=n)``) or ``bezier`` (a quadratic Bezier, n points with
  ``page.mouse.move`` and a uniform 8-25 ms wait between them);
* **replayed recordings**: a person's recorded sign-in (its key and pointer timeline as the
  collector saw it) played back through Playwright at its recorded times.

    python bench/guard_bots.py --people 25 --logins 4 --bots 40 --replays 30   # ~15 min

Writes ``.cache/guards/browser_sessions.json``: ``{"people": [{"person", "session"}],
"bots": [{"typing", "pointer", "session"}], "replays": [{"person", "source", "session"}]}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("browser_sim", ROOT / "bench" / "browser_sim.py")
sim = sys.modules.get("browser_sim") or importlib.util.module_from_spec(_spec)
if "browser_sim" not in sys.modules:
    sys.modules["browser_sim"] = sim
    _spec.loader.exec_module(sim)

CACHE = ROOT / ".cache" / "guards" / "browser_sessions.json"
PASSWORD = "tie5Roanl"
USERNAMES = ["jordan.miles", "a.kowalski", "maria_lopez", "chen.wei", "s.okafor", "peter.smith",
             "lena.fischer", "omar.haddad", "yuki.tanaka", "nora.berg"]


def _page_key(code: str) -> str:
    return "Shift" if code == "ShiftLeft" else code


def _post(page, site: str, fill) -> dict:
    """Open the page, run ``fill(page)`` (which must click submit), return the posted session."""
    page.goto(site + "/")
    page.wait_for_selector("body[data-collector=attached]")
    with page.expect_request(lambda r: r.url.endswith("/login") and r.method == "POST") as req:
        fill(page)
    page.wait_for_selector("#result:not([hidden])")
    return req.value.post_data_json["session"]


def _target(page, selector: str, rng) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    return (box["x"] + box["width"] * rng.uniform(0.25, 0.75), box["y"] + box["height"] * rng.uniform(0.3, 0.7))


def _bezier_points(p0, p2, n, rng):
    p0, p2 = np.asarray(p0, float), np.asarray(p2, float)
    d = max(float(np.linalg.norm(p2 - p0)), 1.0)
    normal = np.array([-(p2 - p0)[1], (p2 - p0)[0]]) / d
    p1 = (p0 + p2) / 2 + normal * d * rng.uniform(-0.35, 0.35)
    s = np.linspace(0, 1, n)[1:, None]
    return (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s**2 * p2


class BotPointer:
    def __init__(self, page, style: str, rng, start):
        self.page, self.style, self.rng, self.pos = page, style, rng, start
        page.mouse.move(*start)

    def click(self, selector: str) -> None:
        target = _target(self.page, selector, self.rng)
        if self.style == "straight":
            self.page.mouse.move(*target, steps=int(self.rng.integers(10, 40)))
        else:
            for x, y in _bezier_points(self.pos, target, int(self.rng.integers(15, 45)), self.rng):
                self.page.mouse.move(float(x), float(y))
                time.sleep(self.rng.uniform(0.008, 0.025))
        self.pos = target
        time.sleep(self.rng.uniform(0.03, 0.2))
        self.page.mouse.down()
        time.sleep(self.rng.uniform(0.03, 0.12))
        self.page.mouse.up()


def _bot_type(page, typing: str, text: str, rng) -> None:
    if typing == "type_delay":
        page.keyboard.type(text, delay=float(rng.uniform(40, 250)))
        return
    base = rng.uniform(90, 260)
    for ch in text:
        code, shift = sim.key_of(ch)
        key = ("Shift+" if shift else "") + code
        page.keyboard.press(key, delay=float(rng.uniform(40, 140)))
        time.sleep(base * rng.uniform(0.6, 1.4) / 1000)


def bot_login(page, site: str, typing: str, pointer: str, username: str, rng) -> dict:
    def fill(p):
        mouse = BotPointer(p, pointer, rng, (rng.uniform(100, 300), rng.uniform(560, 680)))
        mouse.click("#username")
        time.sleep(rng.uniform(0.05, 0.3))
        _bot_type(p, typing, username, rng)
        mouse.click("#password")
        time.sleep(rng.uniform(0.05, 0.3))
        _bot_type(p, typing, PASSWORD, rng)
        mouse.click("#submit")
    return _post(page, site, fill)


def replay_login(page, site: str, session: dict) -> dict:
    """Play a recorded session's key and pointer events back at their recorded times."""
    events = [(e["t"], "k", e) for e in session["keystrokes"]] + [(e["t"], "p", e) for e in session["pointer"]]
    events.sort(key=lambda x: x[0])
    # Key classes hide which key was pressed: a replayer types its own text on the recorded rhythm.
    text = iter(sim.presses_of("jordan.miles") + sim.presses_of(PASSWORD) + ["KeyX"] * 200)
    press_key: dict[int, str] = {}

    def fill(p):
        start = time.perf_counter()
        for t, kind, e in events:
            wait = start + t / 1000 - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if kind == "p":
                if e["type"] == "move":
                    p.mouse.move(e["x"], e["y"])
                elif e["type"] == "down":
                    p.mouse.move(e["x"], e["y"])
                    p.mouse.down()
                elif e["type"] == "up":
                    p.mouse.up()
            elif e["type"] == "down":
                press_key[e["press"]] = _page_key(next(text))
                p.keyboard.down(press_key[e["press"]])
            elif e["press"] in press_key:
                p.keyboard.up(press_key[e["press"]])
    return _post(page, site, fill)


def person_login(page, site: str, person, username: str, rng) -> dict:
    body, _ = sim.login(page, site, person, username, PASSWORD, rng)
    return body["session"]


def generate(n_people: int, n_logins: int, n_bots: int, n_replays: int, seed: int = 0) -> dict:
    from playwright.sync_api import sync_playwright

    why = sim.playwright_missing() or sim.collector_missing()
    if why:
        raise SystemExit(f"cannot generate browser sessions: {why}")
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"people": [], "bots": [], "replays": []}
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp, sim.demo_stack(Path(tmp)) as (_, site), sync_playwright() as p:
        browser = sim.launch_chromium(p)
        page = browser.new_page(viewport=sim.VIEWPORT)
        for i in range(n_people):
            person = sim.Person.from_seed(1000 + i)
            for _ in range(n_logins):
                s = person_login(page, site, person, f"person{i}.{USERNAMES[i % len(USERNAMES)]}", rng)
                out["people"].append({"person": i, "session": s})
            print(f"person {i + 1}/{n_people} ({time.time() - t0:.0f} s)", flush=True)
        styles = [(t, q) for t in ("type_delay", "press_uniform") for q in ("straight", "bezier")]
        for j in range(n_bots):
            typing, pointer = styles[j % len(styles)]
            s = bot_login(page, site, typing, pointer, f"bot{j}.{USERNAMES[j % len(USERNAMES)]}", rng)
            out["bots"].append({"typing": typing, "pointer": pointer, "session": s})
            if (j + 1) % 20 == 0:
                print(f"bot {j + 1}/{n_bots} ({time.time() - t0:.0f} s)", flush=True)
        for j in range(min(n_replays, len(out["people"]))):
            src = out["people"][(j * 7) % len(out["people"])]
            s = replay_login(page, site, src["session"])
            out["replays"].append({"person": src["person"], "source": (j * 7) % len(out["people"]), "session": s})
        browser.close()
    print(f"done in {time.time() - t0:.0f} s", flush=True)
    return out


def load_cached(path: Path = CACHE) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=25)
    ap.add_argument("--logins", type=int, default=4)
    ap.add_argument("--bots", type=int, default=160)
    ap.add_argument("--replays", type=int, default=40)
    ap.add_argument("--out", type=Path, default=CACHE)
    args = ap.parse_args()
    data = generate(args.people, args.logins, args.bots, args.replays)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data))
    print(f"wrote {args.out}: {len(data['people'])} people, {len(data['bots'])} bots, "
          f"{len(data['replays'])} replays")


if __name__ == "__main__":
    main()
