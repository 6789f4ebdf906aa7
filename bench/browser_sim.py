"""Scripted people in headless Chromium: the browser test and the collector benches share this.

* :func:`launch_chromium`: Debian's ``chromium`` through Playwright (its own browser download
  is never used), headless, with networking side channels switched off;
* :func:`demo_stack`: the scoring API (uvicorn subprocess, a fresh SQLite file, the shipped
  bundle) and the demo login site (:mod:`serving.demo_site`, in-process thread);
* :class:`Person`: a seeded typing and pointing style. Every key has its own hold time and
  every key pair its own down-down latency (log-normal around the person's medians),
  rollover happens when a hold outlasts the next latency, Shift is pressed a little before
  and released a little after its letter; the pointer travels curved quadratic-Bezier paths
  with a minimum-jerk speed profile, Fitts-law durations, a dwell before each click;
* :func:`login`: one sign-in on the demo page as that person (click the username field,
  type, click the password field, type, click "Sign in"), returning the session the page
  posted to ``/login`` and the site's answer.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import shutil
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 900, "height": 720}
BUNDLE = ROOT / "bundles" / "sample.pt"


def chromium_path() -> str | None:
    """Debian's chromium, or None."""
    return shutil.which("chromium")


def playwright_missing() -> str | None:
    """Why the browser checks cannot run here, or None when they can."""
    if chromium_path() is None:
        return "chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def collector_missing() -> str | None:
    """Why the demo page has no collector to load, or None."""
    from serving.demo_site import COLLECTOR_DIR

    if (COLLECTOR_DIR / "dist" / "collector.min.js").is_file() or (COLLECTOR_DIR / "src" / "collector.js").is_file():
        return None
    return "the collector is not built yet (collector/dist/collector.min.js or collector/src/collector.js)"


def launch_chromium(playwright):
    """Headless Debian chromium through Playwright."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


@contextlib.contextmanager
def demo_stack(tmp_dir: Path, bundle: Path = BUNDLE) -> Iterator[tuple[str, str]]:
    """The scoring API and the demo site for the block; yields ``(api_url, site_url)``."""
    from serving.demo_site import running_site
    from serving.launch import running_server

    api_key = "site-" + secrets.token_urlsafe(18)
    extra = {"BIOMETRICS_USER_ID_SECRET": secrets.token_hex(32)}
    with (running_server(bundle, Path(tmp_dir) / "profiles.db", {api_key: "demo-site"}, extra_env=extra) as api,
          running_site(api, api_key) as site):
        yield api, site


# --------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------

_PUNCT = {".": ("Period", False), ",": ("Comma", False), "-": ("Minus", False), "_": ("Minus", True),
          "@": ("Digit2", True), " ": ("Space", False)}


def key_of(char: str) -> tuple[str, bool]:
    """The US-layout ``KeyboardEvent.code`` that types ``char`` and whether Shift is needed."""
    if char.isascii() and char.isalpha():
        return "Key" + char.upper(), char.isupper()
    if char.isdigit():
        return "Digit" + char, False
    if char in _PUNCT:
        return _PUNCT[char]
    raise ValueError(f"no key for {char!r} in this simulation")


def presses_of(text: str) -> list[str]:
    """The key presses (codes) that type ``text``, Shift included."""
    out = []
    for ch in text:
        code, shift = key_of(ch)
        out += (["ShiftLeft"] if shift else []) + [code]
    return out


# --------------------------------------------------------------------------------------
# A person
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A seeded behavioural style (medians in ms, spreads as log-normal sigmas)."""

    seed: int
    dd_median: float  # down-down latency between consecutive keys
    hold_median: float
    dd_sigma: float  # press-to-press variation within a session
    hold_sigma: float
    pair_spread: float  # how much the person's latency differs from key pair to key pair
    key_spread: float  # how much the hold differs from key to key
    shift_lead: float  # Shift goes down this long before its letter
    move_a: float  # Fitts-law intercept (ms)
    move_b: float  # Fitts-law slope (ms per bit)
    bow: float  # path curvature: control-point offset / distance
    dwell: float  # pause over a target before pressing
    click_hold: float
    think: float  # pause after a click before typing

    @classmethod
    def from_seed(cls, seed: int) -> Person:
        r = np.random.default_rng(seed)
        ln = lambda median, s: float(median * math.exp(r.normal(0.0, s)))
        return cls(seed=seed, dd_median=ln(175, 0.3), hold_median=ln(95, 0.25), dd_sigma=float(r.uniform(0.18, 0.3)),
                   hold_sigma=float(r.uniform(0.1, 0.2)), pair_spread=float(r.uniform(0.2, 0.4)),
                   key_spread=float(r.uniform(0.1, 0.25)), shift_lead=ln(70, 0.3), move_a=ln(160, 0.3),
                   move_b=ln(110, 0.3), bow=float(r.uniform(-0.3, 0.3)), dwell=ln(120, 0.4),
                   click_hold=ln(95, 0.3), think=ln(250, 0.3))

    def _own(self, *parts: str) -> float:
        """This person's fixed log-offset for a key or key pair (the same in every session)."""
        g = np.random.default_rng(zlib.crc32(":".join((str(self.seed), *parts)).encode()))
        return float(g.normal())

    def hold_of(self, code: str) -> float:
        return self.hold_median * math.exp(self.key_spread * self._own("hold", code))

    def latency_of(self, prev: str, code: str) -> float:
        return self.dd_median * math.exp(self.pair_spread * self._own("dd", prev, code))


def press_timeline(person: Person, text: str, rng: np.random.Generator, speed: float = 1.0
                   ) -> list[tuple[float, str, str]]:
    """``(t_ms, "down"|"up", code)`` for typing ``text``, time-ordered, starting at 0."""
    events: list[tuple[float, str, str]] = []
    t, prev, last_up = 0.0, "", {}
    shift_up_at = None  # index in events of the last Shift release (it must precede the next key)
    for ch in text:
        code, shift = key_of(ch)
        if prev:
            t += speed * person.latency_of(prev, code) * math.exp(rng.normal(0.0, person.dd_sigma))
        if shift_up_at is not None:
            # Shift comes up before the next key goes down (else that key is shifted too).
            s_t = events[shift_up_at][0]
            if s_t > t - 5.0:
                lo = events[shift_up_at - 1][0] + 10.0  # just after its letter went down
                s_t = max(lo, t - 5.0 - 10.0 * rng.uniform())
                t = max(t, s_t + 5.0)
                events[shift_up_at] = (s_t, "up", "ShiftLeft")
                last_up["ShiftLeft"] = s_t
            shift_up_at = None
        hold = person.hold_of(code) * math.exp(rng.normal(0.0, person.hold_sigma))
        t = max(t, last_up.get(code, -1.0) + 8.0)  # a key cannot go down again before it is up
        if shift:
            s_down = max(t - person.shift_lead * math.exp(rng.normal(0, 0.2)), last_up.get("ShiftLeft", -1) + 8, 0.0)
            t = max(t, s_down + 15.0)
            events.append((s_down, "down", "ShiftLeft"))
            s_up = t + hold + 30.0 * math.exp(rng.normal(0, 0.3))
            events.append((t, "down", code))
            events.append((s_up, "up", "ShiftLeft"))
            shift_up_at = len(events) - 1
            last_up["ShiftLeft"] = s_up
            events.append((t + hold, "up", code))
            last_up[code] = t + hold
            prev = code
            continue
        events.append((t, "down", code))
        events.append((t + hold, "up", code))
        last_up[code] = t + hold
        prev = code
    events.sort(key=lambda e: (e[0], e[1] == "down"))
    t0 = events[0][0]
    return [(e[0] - t0, e[1], e[2]) for e in events]


def _play(events: list[tuple[float, object]], act) -> None:
    """Run ``act(item)`` at each event's time (ms from now), sleeping in between."""
    start = time.perf_counter()
    for t_ms, item in events:
        wait = start + t_ms / 1000.0 - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        act(item)


def type_text(page, person: Person, text: str, rng: np.random.Generator, speed: float = 1.0) -> None:
    """Type ``text`` into the focused field with the person's rhythm (key down/up, no ``type()``)."""
    kb = page.keyboard
    timeline = [(t, (kind, code)) for t, kind, code in press_timeline(person, text, rng, speed)]
    _play(timeline, lambda e: (kb.down if e[0] == "down" else kb.up)("Shift" if e[1] == "ShiftLeft" else e[1]))


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def move_path(person: Person, start: tuple[float, float], end: tuple[float, float], width: float,
              rng: np.random.Generator) -> list[tuple[float, tuple[float, float]]]:
    """``(t_ms, (x, y))`` along a quadratic Bezier from ``start`` to ``end`` (about 60 Hz)."""
    p0, p2 = np.asarray(start, float), np.asarray(end, float)
    d = float(np.linalg.norm(p2 - p0))
    if d < 2:
        return []
    duration = (person.move_a + person.move_b * math.log2(1 + d / max(width, 8.0))) * math.exp(rng.normal(0, 0.12))
    normal = np.array([-(p2 - p0)[1], (p2 - p0)[0]]) / d
    p1 = (p0 + p2) / 2 + normal * d * (person.bow + rng.normal(0, 0.06))
    n = max(int(duration / 16.7), 4)
    t = np.sort(rng.uniform(0, duration, n - 1))
    t = np.append(t, duration)
    s = _min_jerk(t / duration)[:, None]
    pts = (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s**2 * p2
    pts += rng.normal(0, 0.6, pts.shape) * (1 - s)  # a little tremor, none at the end
    return [(float(ti), (float(x), float(y))) for ti, (x, y) in zip(t, pts)]


class Pointer:
    """The person's mouse on one page: remembers where it is."""

    def __init__(self, page, person: Person, rng: np.random.Generator, start: tuple[float, float]):
        self.page, self.person, self.rng, self.pos = page, person, rng, start
        page.mouse.move(*start)

    def click(self, selector: str) -> None:
        box = self.page.locator(selector).bounding_box()
        target = (box["x"] + box["width"] * self.rng.uniform(0.25, 0.75),
                  box["y"] + box["height"] * self.rng.uniform(0.3, 0.7))
        path = move_path(self.person, self.pos, target, min(box["width"], box["height"]), self.rng)
        _play(path, lambda p: self.page.mouse.move(*p))
        self.pos = target
        time.sleep(self.person.dwell * math.exp(self.rng.normal(0, 0.3)) / 1000)
        self.page.mouse.down()
        time.sleep(self.person.click_hold * math.exp(self.rng.normal(0, 0.2)) / 1000)
        self.page.mouse.up()


def login(page, site_url: str, person: Person, username: str, password: str, rng: np.random.Generator
          ) -> tuple[dict, dict]:
    """One sign-in as ``person``: returns (the JSON body the page posted to /login, the site's answer)."""
    page.goto(site_url + "/")
    page.wait_for_selector("body[data-collector=attached]")
    speed = math.exp(rng.normal(0, 0.05))  # a session's overall pace drifts a little
    mouse = Pointer(page, person, rng, (rng.uniform(100, 300), rng.uniform(560, 680)))
    mouse.click("#username")
    time.sleep(person.think * math.exp(rng.normal(0, 0.3)) / 1000)
    type_text(page, person, username, rng, speed)
    mouse.click("#password")
    time.sleep(person.think * math.exp(rng.normal(0, 0.3)) / 1000)
    type_text(page, person, password, rng, speed)
    with page.expect_request(lambda r: r.url.endswith("/login") and r.method == "POST") as req_info, \
            page.expect_response(lambda r: r.url.endswith("/login")) as resp_info:
        mouse.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    return req_info.value.post_data_json, resp_info.value.json()
