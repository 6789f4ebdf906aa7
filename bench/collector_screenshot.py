"""Screenshot of the demo login page after a scored sign-in: ``docs/demo_login.png``.

    python bench/collector_screenshot.py [--out docs/demo_login.png]

Starts the scoring API (shipped bundle, a fresh SQLite file) and the demo site, lets the
browser test's scripted person (``bench/browser_sim.py``) sign in three times (enrollment)
and once more (scored), then screenshots the page with the answer shown. The password field
is cleared after each attempt, so the picture shows the username, the decision, the risk
and the reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import browser_sim as sim

USERNAME, PASSWORD = "jordan.miles", "tie5Roanl"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "demo_login.png"))
    ap.add_argument("--seed", type=int, default=11, help="the scripted person")
    args = ap.parse_args(argv)
    why = sim.playwright_missing() or sim.collector_missing()
    if why:
        raise SystemExit(f"collector_screenshot: {why}")
    from playwright.sync_api import sync_playwright

    person, rng = sim.Person.from_seed(args.seed), np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp, sim.demo_stack(Path(tmp)) as (_, site), sync_playwright() as p:
        browser = sim.launch_chromium(p)
        page = browser.new_page(viewport={"width": 560, "height": 660}, device_scale_factor=1)
        for _ in range(3):
            sim.login(page, site, person, USERNAME, PASSWORD, rng)
        _, out = sim.login(page, site, person, USERNAME, PASSWORD, rng)
        page.mouse.move(5, 5)  # no hover state on the button
        page.wait_for_timeout(400)  # the risk bar's transition
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(json.dumps({"out": str(args.out), "decision": out.get("decision"), "risk": out.get("risk"),
                      "reasons": out.get("reasons")}))
    return out


if __name__ == "__main__":
    main()
