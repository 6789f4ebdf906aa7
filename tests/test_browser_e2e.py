"""End to end in a real browser: the collector on the demo login page, the site's back end, the API.

Headless Debian chromium (Playwright), the scoring API (uvicorn subprocess, a fresh SQLite
file, the shipped ``bundles/sample.pt``) and the demo site (``serving.demo_site``). A
scripted person signs in three times (enrollment), then once more (scored), then another
person types the same credentials. Every request the page sends to ``/login`` is checked:
its ``session`` validates as contract v2 and carries nothing of what was typed.

    python -m pytest -q -m browser tests/test_browser_e2e.py
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("browser_sim", ROOT / "bench" / "browser_sim.py")
sim = importlib.util.module_from_spec(_spec)
sys.modules["browser_sim"] = sim
_spec.loader.exec_module(sim)

pytestmark = pytest.mark.browser

USERNAME = "jordan.miles"
PASSWORD = "tie5Roanl"  # the demo site's password (serving.demo_site.DEMO_PASSWORD)
GENUINE_SEED, IMPOSTOR_SEED = 11, 29

#: The only string values contract v2 can hold (besides the session_id UUID).
ALLOWED_STRINGS = {"down", "up", "move", "wheel", "none", "left", "right", "middle", "start", "end",
                   "desktop", "mobile", "tablet", "unknown"}


def _strings(obj) -> list[str]:
    """Every string *value* in a JSON document (object keys are the contract's field names)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def check_private(session: dict) -> None:
    """The session validates as contract v2 and holds nothing of the typed username or password."""
    from biometrics.events import KeyClass, KeyEvent, Session

    Session.model_validate(session)
    raw = json.dumps(session)
    strings = _strings(session)
    assert set(strings) - {session["session_id"]} <= ALLOWED_STRINGS, set(strings) - ALLOWED_STRINGS
    uuid.UUID(session["session_id"])
    for text in (USERNAME, PASSWORD):
        assert text not in raw
        codes = set(sim.presses_of(text)) | {"ShiftLeft", "ShiftRight", "Shift"}
        for code in codes:  # event.code names: KeyA, Digit5, Period, ShiftLeft ...
            assert code not in raw, code
        for ch in set(text):  # event.key values: the characters themselves
            assert ch not in strings, ch
    assert not re.search(r"Key[A-Z]|Digit\d|Numpad", raw)
    key_fields = set(KeyEvent.model_fields)  # t, type, key_class, press: no character, code or hash
    assert key_fields <= {"t", "type", "key_class", "press"}, key_fields
    for ev in session["keystrokes"]:
        assert set(ev) <= key_fields, ev
    downs = [ev["key_class"] for ev in session["keystrokes"] if ev["type"] == "down"]
    # Username keys keep their coarse classes; every key of the password field is masked.
    expect_user = [int(KeyClass.SEPARATOR) if c == "Period" else int(KeyClass.LETTER)
                   for c in sim.presses_of(USERNAME)]
    n_pw = len(sim.presses_of(PASSWORD))
    assert downs == expect_user + [int(KeyClass.MASKED)] * n_pw, downs
    ups = [ev for ev in session["keystrokes"] if ev["type"] == "up"]
    assert len(ups) == len(downs)
    # The password scorer's unit finds the password field in what the browser sent: its presses, timed.
    from biometrics.modalities import MODALITIES

    password = MODALITIES["keystrokes"].items(Session.model_validate(session), "password")
    assert password.n_tokens == n_pw and password.features[0, 1:1 + n_pw].min() > 0  # log holds of >= 1 ms
    kinds = {ev["type"] for ev in session["pointer"]}
    assert {"move", "down", "up"} <= kinds, kinds


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    why = sim.playwright_missing() or sim.collector_missing()
    if why:
        pytest.skip(f"browser end-to-end test skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sim.demo_stack(tmp_path_factory.mktemp("browser_e2e")) as (_, site), sync_playwright() as p:
        browser = sim.launch_chromium(p)
        page = browser.new_page(viewport=sim.VIEWPORT)
        sent: list[dict] = []
        page.on("request", lambda r: sent.append(r.post_data_json)
                if r.method == "POST" and r.url.endswith("/login") else None)
        yield page, site, sent
        browser.close()


def test_login_page_enrolls_then_scores_genuine_and_impostor(browser_page):
    page, site, sent = browser_page
    genuine, impostor = sim.Person.from_seed(GENUINE_SEED), sim.Person.from_seed(IMPOSTOR_SEED)
    rng = np.random.default_rng(0)

    answers = []
    for i in range(3):
        body, out = sim.login(page, site, genuine, USERNAME, PASSWORD, rng)
        assert out["ok"] and out["phase"] == "enroll", out
        assert out["enrollment"]["sessions"] == i + 1, out
        answers.append(out)
    assert answers[-1]["enrollment"]["state"] == "verifying"

    _, mine = sim.login(page, site, genuine, USERNAME, PASSWORD, rng)
    _, theirs = sim.login(page, site, impostor, USERNAME, PASSWORD, rng)
    summary = {"genuine": {k: mine.get(k) for k in ("decision", "risk", "reasons", "modalities")},
               "impostor": {k: theirs.get(k) for k in ("decision", "risk", "reasons", "modalities")}}
    print("\nbrowser e2e:", json.dumps(summary))
    assert mine["phase"] == theirs["phase"] == "score"
    assert mine["decision"] != "deny", summary
    assert theirs["risk"] > mine["risk"], summary
    assert theirs["decision"] != "allow", summary

    # What the page sent: every session is contract v2 and private; the password went only
    # to the site's back end (it checks it), never in the session.
    assert len(sent) == 5
    for body in sent:
        assert set(body) == {"username", "password", "session"}
        assert body["password"] == PASSWORD and body["username"] == USERNAME
        check_private(body["session"])
    assert len({b["session"]["session_id"] for b in sent}) == 5


def test_wrong_password_is_refused_without_scoring(browser_page):
    page, site, sent = browser_page
    n = len(sent)
    rng = np.random.default_rng(1)
    _, out = sim.login(page, site, sim.Person.from_seed(GENUINE_SEED), USERNAME, "wrong5pass", rng)
    assert out == {"ok": False, "error": "wrong username or password"}
    assert len(sent) == n + 1
    assert page.locator("#decision").inner_text().lower() == "error"
