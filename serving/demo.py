"""The main job: start the API on the shipped bundle, enroll the sample users over HTTP, score their sessions.

    python -m serving.demo [--sample-data sample_data] [--bundle bundles/default.pt] [--json]
    python -m serving.demo --browser [--site-port 8080]    # the API and a demo login page to try by hand

Starts uvicorn on 127.0.0.1 with a fresh SQLite file, enrolls every sample user with
their ``enroll`` sessions (``POST /v1/users/{id}/enroll``), then scores every ``test``
session (``POST /v1/score``) against the user it claims to be: genuine sessions first,
then impostors, bots and replays (replays copy earlier sessions of the same user). Prints
the decisions table with FAR and FRR at the default thresholds, in all and per device.

The bundle is the one the API serves by default, ``bundles/default.pt``: scorers trained and
calibrated on real people of public datasets, none of them the synthetic sample's.
``--bundle bundles/sample.pt`` runs the test bundle trained on other synthetic users.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from biometrics.synthetic import load_sample_sessions
from serving.evaluation import ATTACK_REASONS
from serving.launch import ROOT, running_server

API_KEY = "demo-key-0123456789"
# A fixed secret keys user ids and replay sketches, so the demo (and its test) gives the same
# answers on every run: under another key the hashed replay sketches collide elsewhere, and
# about 0.1% of the synthetic owners' login retypes score as replays under some keys (7 of 6,720 over 6 keys).
USER_ID_SECRET = "demo-user-id-secret-" + "0" * 44
ORDER = ("genuine", "impostor", "bot", "replay")


def run(base_url: str, records) -> tuple[list[dict], Counter]:
    """Enroll, then score; one row per scored session, and the enrollments refused (by reason)."""
    headers = {"X-API-Key": API_KEY}
    rows, refused = [], Counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        for r in records:
            if r.split == "enroll":
                resp = client.post(f"/v1/users/{r.user_id}/enroll",
                                   json={"session": r.session.model_dump(mode="json", exclude_defaults=True)})
                if resp.status_code == 422:  # a guard refused it, as a login flow would see; go on
                    refused[resp.json()["detail"].split(":")[0]] += 1
                    continue
                resp.raise_for_status()
        tests = sorted((r for r in records if r.split == "test"), key=lambda r: ORDER.index(r.label))
        for r in tests:
            body = {"user_id": r.user_id, "session": r.session.model_dump(mode="json", exclude_defaults=True),
                    "update_profile": False}
            out = client.post("/v1/score", json=body)
            out.raise_for_status()
            out = out.json()
            rows.append({"label": r.label, "device": r.device, "decision": out["decision"], "risk": out["risk"],
                         "reasons": out["reasons"]})
    return rows, refused


def summarize(rows: list[dict], refused: Counter | None = None, by_device: bool = True) -> dict:
    """Decision counts per session kind, FAR, FRR, the share of attacks caught, enrollments
    refused; and the same per device (``by_device``)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        counts[row["label"]][row["decision"]] += 1
    n = {k: sum(c.values()) for k, c in counts.items()}
    share = lambda k, d: counts[k][d] / n[k] if n.get(k) else None
    caught = lambda k: 1.0 - share(k, "allow") if n.get(k) else None
    flagged = lambda k: (sum(any(x in r["reasons"] for x in ATTACK_REASONS[k]) for r in rows if r["label"] == k)
                         / n[k] if n.get(k) else None)
    return {"n": n, "decisions": {k: dict(c) for k, c in counts.items()},
            "FAR": share("impostor", "allow"), "FRR": 1.0 - share("genuine", "allow"),
            "FRR_deny": share("genuine", "deny"), "impostors_caught": caught("impostor"),
            "bots_caught": caught("bot"), "bots_flagged": flagged("bot"),
            "replays_caught": caught("replay"), "replays_flagged": flagged("replay"),
            "enrollments_refused": dict(refused or {}),
            **({"by_device": {d: summarize([r for r in rows if r.get("device") == d], by_device=False)
                              for d in sorted({r.get("device") for r in rows} - {None})}} if by_device else {})}


def print_table(s: dict) -> None:
    """The decisions table a person reads."""
    print(f"{'session kind':<12} {'n':>4} {'allow':>7} {'challenge':>10} {'deny':>6}")
    for k in ORDER:
        if k in s["n"]:
            d = s["decisions"][k]
            print(f"{k:<12} {s['n'][k]:>4} {d.get('allow', 0):>7} {d.get('challenge', 0):>10} {d.get('deny', 0):>6}")
    print(f"\nFAR (impostors allowed) {s['FAR']:.1%}   FRR (genuine not allowed) {s['FRR']:.1%}"
          f"   genuine denied {s['FRR_deny']:.1%}")
    for device, d in s.get("by_device", {}).items():
        if d["FAR"] is not None and d["FRR"] is not None:
            print(f"  {device:<8} FAR {d['FAR']:.1%}   FRR {d['FRR']:.1%}   genuine denied {d['FRR_deny']:.1%}")
    print(f"bots caught {s['bots_caught']:.0%} (flagged bot_like_timing {s['bots_flagged']:.0%})   "
          f"replays caught {s['replays_caught']:.0%} (flagged replayed_session or possible_replay {s['replays_flagged']:.0%})")
    if s["enrollments_refused"]:
        print("enrollment sessions refused: " + ", ".join(f"{n} ({why})" for why, n in s["enrollments_refused"].items()))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample-data", default=str(ROOT / "sample_data"))
    ap.add_argument("--bundle", default=str(ROOT / "bundles" / "default.pt"),
                    help="the model bundle the API serves (default: the real-data bundle the API serves "
                         "by default; bundles/sample.pt: the synthetic test bundle)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line only")
    ap.add_argument("--browser", action="store_true",
                    help="instead: start the API and the demo login site (serving.demo_site), print its URL "
                         "and serve until Ctrl-C")
    ap.add_argument("--site-port", type=int, default=None, help="with --browser: the site's port (default: free)")
    args = ap.parse_args(argv)
    if args.browser:
        from serving.demo_site import serve_browser_demo

        serve_browser_demo(Path(args.bundle), args.site_port)
        return {}
    records = load_sample_sessions(args.sample_data)
    with tempfile.TemporaryDirectory() as tmp:
        secret = {"BIOMETRICS_USER_ID_SECRET": USER_ID_SECRET}
        with running_server(Path(args.bundle), Path(tmp) / "profiles.db", {API_KEY: "demo"},
                            extra_env=secret) as base:
            if not args.json:
                print(f"API ready at {base}; enrolling {len({r.user_id for r in records})} users over HTTP\n")
            summary = summarize(*run(base, records))
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
    return summary


if __name__ == "__main__":
    main()
