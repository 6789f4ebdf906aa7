"""Replay and bot guards on real sessions: catch rates and genuine false flags.

    OMP_NUM_THREADS=1 python bench/guards.py --aalto-users 150     # a few minutes

Replay (finding 1, 2): every stored signature is the keyed sketch of ``biometrics.guards``;
a replay variant of a stored session (verbatim, +-20 ms uniform jitter per timestamp, time
stretch x0.9-1.1, a contiguous half or third of its events, and combinations) must be
flagged against the person's stored sessions, while no session of a person may be, neither
against one other (``genuine_pairs_flagged``) nor against all the person's others
(``genuine_vs_store_flagged``, as a profile holds them). Keystrokes: Aalto desktop sentences
(users after the first ``--skip-users``; ``bench/replay_fit.py`` fits the LLR table on those
before); pointer: Balabit sessions cut into login-sized chunks of ``--chunk`` events; and
CMU (every subject's same password, ``--cmu-per-subject`` repetitions each, and the
password typed twice as one login: a text typed the same every time). Each rate has its
``exact_rate`` beside it: the share flagged on exact evidence (``replayed_session``, denied); the
rest of the flagged are ``possible_replay`` (challenged by default, ``biometrics.guards.replay_evidence``).
A pointer variant whose cut holds fewer than ``replay_min_points`` distinct positions (the
cursor stood still: no path to replay, nor to score) counts as missed in ``rate``; it is
counted in ``no_path``, and ``rate_with_path`` leaves it out.

Bots (finding 3): synthetic keystroke bots (fixed delay, +-40 % uniform random waits with
Playwright-like fixed or uniform holds) and pointer bots (straight and Bezier paths at a
constant rate), plus the browser rig's bots and people when ``bench/guard_bots.py`` has cached
them (whole sessions, and their typing alone); genuine flag rates on Aalto (sentences, and
login-sized runs of 12-30 presses of them, and the same runs ending in a masked password
field), Balabit chunks, StrokePIN PIN entries (single,
PIN + confirmation, and three in a row: the regular typist at login length) and the rig's
people. Aalto and the synthetic bots (desktop logins) are judged by the keyboard's jitter rule,
StrokePIN by the touchscreen's (``GuardConfig.jitter_keyboard`` / ``jitter_touchscreen``), the
rig's sessions by their own device type; ``keystroke_bots_caught_as_touchscreen`` is the same
bots claiming a phone. The bots draw from their own seeded generator. Writes
``bench/results/guards.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from biometrics import guards as G
from biometrics.data import aalto, strokepin
from biometrics.data.balabit import load_balabit
from biometrics.data.cmu import cmu_to_keystroke_arrays, load_cmu
from biometrics.data.paths import datasets_root
from biometrics.events import KeyClass, KeystrokeArrays, PointerArrays

OUT = ROOT / "bench" / "results" / "guards.json"
KINDS = ("verbatim", "jitter", "stretch", "partial_half", "partial_third", "jitter_stretch",
         "jitter_partial_half", "jitter_partial_third")


# --- replay variants ---------------------------------------------------------------------

def _cut(n: int, frac: float, rng) -> slice:
    size = max(2, round(n * frac))
    s = int(rng.integers(0, n - size + 1))
    return slice(s, s + size)


def _retimed(t: np.ndarray, kind: str, rng) -> np.ndarray:
    """Timestamps of a replay: each jittered by +-20 ms (uniform) and/or all stretched x0.9-1.1."""
    t = t.astype(float).copy()
    if "jitter" in kind:
        t = t + rng.uniform(-20, 20, t.size)
    if "stretch" in kind:
        t = t * rng.uniform(0.9, 1.1)
    return t


def replay_keys(k: KeystrokeArrays, kind: str, rng) -> KeystrokeArrays:
    """A replay of key events: timestamps jittered / stretched, or a contiguous part."""
    t, dn, pr = _retimed(k.t, kind, rng), k.is_down.copy(), k.press.copy()
    if "partial" in kind:
        o = np.argsort(t, kind="stable")
        t, dn, pr = t[o], dn[o], pr[o]
        sl = _cut(t.size, 0.5 if "half" in kind else 1 / 3, rng)
        t, dn, pr = t[sl], dn[sl], pr[sl]
        downs = set(pr[dn].tolist())
        keep = dn | np.isin(pr, list(downs))  # an up whose down was cut off is not replayed
        t, dn, pr = t[keep], dn[keep], pr[keep]
    down_t = {int(p): ti for ti, d, p in zip(t, dn, pr) if d}
    t = np.array([max(ti, down_t.get(int(p), ti)) if not d else ti for ti, d, p in zip(t, dn, pr)])
    o = np.lexsort((~dn, t))
    t, dn, pr = t[o], dn[o], pr[o]
    # the replaying page's collector numbers presses in down order again
    renum = {p: i for i, p in enumerate(pr[dn].tolist())}
    pr = np.array([renum.get(int(p), 0) for p in pr], np.int32)
    t = np.maximum(t - t[0], 0.0)
    z = np.zeros(t.size, np.int8)
    return KeystrokeArrays(t=t, is_down=dn, key_class=z, key_bucket=z.astype(np.int32), press=pr)


def replay_pointer(p: PointerArrays, kind: str, rng) -> PointerArrays:
    t, x, y = _retimed(p.t, kind, rng), p.x.copy(), p.y.copy()
    o = np.argsort(t, kind="stable")
    t, x, y, ty = t[o], x[o], y[o], p.type[o]
    if "partial" in kind:
        sl = _cut(t.size, 0.5 if "half" in kind else 1 / 3, rng)
        t, x, y, ty = t[sl], x[sl], y[sl], ty[sl]
    z = np.zeros(t.size)
    return PointerArrays(t=t - t[0], x=x, y=y, type=ty, button=ty * 0, delta_y=z)


def _rate(flags) -> dict:
    flags = np.asarray(flags, bool)
    return {"n": int(flags.size), "rate": round(float(flags.mean()), 5) if flags.size else None}


def _evidence_rates(evidence: list) -> dict:
    """Flagged (any evidence) and, of all, ``exact`` (``replayed_session``, denied; the rest of the
    flagged are ``possible_replay``, challenged by default)."""
    exact = np.array([e == "exact" for e in evidence], bool)
    return {**_rate([e is not None for e in evidence]),
            "exact_rate": round(float(exact.mean()), 5) if exact.size else None}


def _distinct_positions(p: PointerArrays) -> int:
    return int(np.unique(np.round(np.c_[p.x, p.y]), axis=0).shape[0])


def replay_eval(people: list[list], sketch, replay, modality: str, cfg, rng, per_person: int) -> dict:
    """Genuine pairs (every two sessions of a person) and replay variants against the stored set."""
    sk = [[sketch(s) for s in ss] for ss in people]
    gen = [G.replay_evidence(a, [b], cfg, modality) for ss in sk for a, b in itertools.permutations(ss, 2)
           if a.size and b.size]
    store = [G.replay_evidence(a, ss[:i] + ss[i + 1:], cfg, modality)
             for ss in sk for i, a in enumerate(ss) if a.size]
    out = {"genuine_pairs_flagged": _evidence_rates(gen), "genuine_vs_store_flagged": _evidence_rates(store),
           "persons": len(people)}
    t0, n_calls = time.perf_counter(), 0
    for kind in KINDS:
        caught, moved = [], []
        for ss, sks in zip(people, sk):
            for i in rng.choice(len(ss), min(per_person, len(ss)), replace=False):
                v = ss[i] if kind == "verbatim" else replay(ss[i], kind, rng)
                caught.append(G.replay_evidence(sketch(v), sks, cfg, modality))
                moved.append(modality == "keystrokes" or _distinct_positions(v) >= cfg.replay_min_points)
                n_calls += 1
        out[kind] = _evidence_rates(caught)
        if not all(moved):  # a cut where the cursor stood still: no path to replay, nor to score
            out[kind]["no_path"] = int(np.sum(~np.array(moved)))
            out[kind]["rate_with_path"] = _rate([c is not None for c, m in zip(caught, moved) if m])["rate"]
    out["ms_per_is_replay_vs_person_store"] = round((time.perf_counter() - t0) * 1000 / max(n_calls, 1), 3)
    return out


# --- data ----------------------------------------------------------------------------------

def aalto_people(root: Path, n_users: int, skip: int) -> list[list[KeystrokeArrays]]:
    folder = aalto.unpack(root, ROOT / ".cache" / "aalto-desktop")
    seqs = aalto.load_sequences(folder, aalto.keycode_tables("classes"), 15, max_users=skip + n_users)
    people: dict[int, list] = {}
    for s in seqs:
        people.setdefault(s.user, []).append(s.keys)
    return [people[u] for u in sorted(people)[skip:]]


def cmu_people(root: Path, per_subject: int, seed: int = 0) -> list[list[KeystrokeArrays]]:
    """CMU: each subject's password typed ``per_subject`` times (a seeded sample of the 400):
    the login case, where every genuine session is the same short text."""
    data = load_cmu(root)
    rng = np.random.default_rng(seed)
    out = []
    for subject in data.subjects:
        rows = np.flatnonzero(data.subject == subject)
        out.append(cmu_to_keystroke_arrays(data, np.sort(rng.permutation(rows)[:per_subject])))
    return out


def cmu_logins(people: list[list[KeystrokeArrays]]) -> list[list[KeystrokeArrays]]:
    """Each subject's password typed twice as one login (two fields, 1 s apart): a text that
    its practised owner types the same every time, long enough for the soft replay evidence."""
    return [[_joined(reps[i:i + 2]) for i in range(0, len(reps) - 1, 2)] for reps in people]


def pointer_chunks(p: PointerArrays, size: int, most: int) -> list[PointerArrays]:
    out = []
    for a in range(0, p.t.size - size + 1, size)[:most]:
        sl = slice(a, a + size)
        out.append(PointerArrays(t=p.t[sl] - p.t[a], x=p.x[sl], y=p.y[sl], type=p.type[sl],
                                 button=p.button[sl], delta_y=p.delta_y[sl]))
    return out


def balabit_people(root: Path, size: int, most: int) -> list[list[PointerArrays]]:
    data = load_balabit(root)
    return [[c for s in data.training[a] for c in pointer_chunks(s.events, size, most)] for a in data.accounts]


# --- bots ------------------------------------------------------------------------------------

def _keys_from(down: np.ndarray, hold: np.ndarray, n_masked: int = 0) -> KeystrokeArrays:
    """Key events of presses at ``down`` held ``hold``; the last ``n_masked`` in a password field
    (``KeyClass.MASKED``, as the collector sends them), the others letters."""
    n = down.size
    t = np.concatenate([down, down + hold])
    dn = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    pr = np.r_[np.arange(n), np.arange(n)].astype(np.int32)
    cls = np.where(np.arange(n) >= n - n_masked, int(KeyClass.MASKED), int(KeyClass.LETTER)).astype(np.int8)
    o = np.lexsort((~dn, t))
    return KeystrokeArrays(t=t[o] - t[o][0], is_down=dn[o], key_class=np.r_[cls, cls][o],
                           key_bucket=np.zeros(2 * n, np.int32), press=pr[o])


def keystroke_bots(rng, n: int) -> dict[str, list[KeystrokeArrays]]:
    """Scripted typing of a 12-28 key username + password (masked) with a pause between the fields."""
    out: dict[str, list] = {k: [] for k in ("fixed_delay", "type_delay", "jitter40_uniform_hold",
                                            "jitter40_fixed_hold", "jitter40_tiny_hold")}
    for _ in range(n):
        n1, n2 = int(rng.integers(6, 16)), int(rng.integers(6, 14))
        base = rng.uniform(60, 260)
        for kind, items in out.items():
            if kind == "fixed_delay":
                gaps = np.full(n1 + n2 - 1, base)
            elif kind == "type_delay":  # page.keyboard.type(delay=d): down, wait d, up, next
                gaps = np.full(n1 + n2 - 1, base) + rng.uniform(0.5, 3, n1 + n2 - 1)
            else:
                gaps = base * rng.uniform(0.6, 1.4, n1 + n2 - 1)
            gaps[n1 - 1] += rng.uniform(300, 1500)  # moving to the password field
            down = np.r_[0.0, np.cumsum(gaps)]
            if kind == "type_delay":
                hold = np.full(down.size, base)
            elif kind == "jitter40_fixed_hold" or kind == "fixed_delay":
                hold = np.full(down.size, rng.uniform(30, 120))
            elif kind == "jitter40_tiny_hold":
                hold = rng.uniform(0, 5, down.size)
            else:
                hold = rng.uniform(40, 140, down.size)
            hold = np.minimum(hold, np.r_[gaps, 1e9] - 1)  # press() releases before the next key
            items.append(_keys_from(down, np.maximum(hold, 0.5), n_masked=n2))
    return out


def pointer_bots(rng, n: int) -> dict[str, list[PointerArrays]]:
    out: dict[str, list] = {"straight": [], "bezier_constant_rate": []}
    for _ in range(n):
        for kind, items in out.items():
            ts, xs, ys, tys, t = [], [], [], [], 0.0
            pos = rng.uniform([50, 400], [400, 700])
            for _leg in range(3):
                tgt = rng.uniform([100, 100], [800, 600])
                k = int(rng.integers(10, 40))
                s = np.linspace(0, 1, k)[1:, None]
                if kind == "straight":
                    pts = pos + s * (tgt - pos)
                else:
                    nrm = np.array([-(tgt - pos)[1], (tgt - pos)[0]])
                    mid = (pos + tgt) / 2 + nrm * rng.uniform(-0.35, 0.35)
                    pts = (1 - s) ** 2 * pos + 2 * (1 - s) * s * mid + s ** 2 * tgt
                for x, y in pts:
                    t += rng.uniform(8, 25)
                    ts.append(t), xs.append(x), ys.append(y), tys.append(0)
                for ty in (1, 2):  # click the target: down, up
                    t += rng.uniform(30, 120)
                    ts.append(t), xs.append(tgt[0]), ys.append(tgt[1]), tys.append(ty)
                pos = tgt
                t += rng.uniform(100, 400)
            ts, xs, ys = np.array(ts), np.array(xs), np.array(ys)
            tys = np.array(tys, np.int8)
            items.append(PointerArrays(t=ts, x=xs, y=ys, type=tys, button=(tys > 0).astype(np.int8),
                                           delta_y=np.zeros(ts.size)))
    return out


def login_chunks(people: list[list[KeystrokeArrays]], rng, lo: int = 12, hi: int = 30) -> list[KeystrokeArrays]:
    """Per session, a run of ``lo``-``hi`` consecutive presses (by down time): login-sized typing."""
    out = []
    for k in (k for ss in people for k in ss):
        ids = k.press[k.is_down][np.argsort(k.t[k.is_down], kind="stable")]
        n = int(rng.integers(lo, hi + 1))
        if ids.size < n:
            continue
        s = int(rng.integers(0, ids.size - n + 1))
        keep = np.isin(k.press, ids[s:s + n])
        t = k.t[keep]
        out.append(KeystrokeArrays(t=t - t[0], is_down=k.is_down[keep], key_class=k.key_class[keep],
                                   key_bucket=k.key_bucket[keep], press=k.press[keep]))
    return out


def password_last(chunks: list[KeystrokeArrays], rng) -> list[KeystrokeArrays]:
    """Each run's last 4 to n-4 presses made a password field (masked): the guard then judges the
    two fields each on its own scale, as it does a login."""
    out = []
    for k in chunks:
        ids = k.press[k.is_down][np.argsort(k.t[k.is_down], kind="stable")]
        cut = int(rng.integers(4, max(5, ids.size - 3)))
        cls = np.where(np.isin(k.press, ids[cut:]), int(KeyClass.MASKED), k.key_class).astype(np.int8)
        out.append(KeystrokeArrays(t=k.t, is_down=k.is_down, key_class=cls, key_bucket=k.key_bucket, press=k.press))
    return out


def key_flag(k: KeystrokeArrays, cfg, keyboard: bool) -> bool:
    return bool(G.keystroke_bot_reasons(G.keystroke_bot_stats(k, cfg), cfg, keyboard=keyboard))


def _joined(ks: list[KeystrokeArrays]) -> KeystrokeArrays:
    """Entries typed one after the other, each 1 s after the last release of the one before."""
    t, off = [], 0.0
    for k in ks:
        t.append(k.t + off)
        off = t[-1][-1] + 1000.0
    presses = np.cumsum([0] + [int(k.press.max()) + 1 for k in ks[:-1]])
    return KeystrokeArrays(t=np.concatenate(t), is_down=np.concatenate([k.is_down for k in ks]),
                           key_class=np.concatenate([k.key_class for k in ks]),
                           key_bucket=np.concatenate([k.key_bucket for k in ks]),
                           press=np.concatenate([k.press + o for k, o in zip(ks, presses)]).astype(np.int32))


def pin_entries(root: Path) -> dict[str, list[KeystrokeArrays]]:
    """StrokePIN: single PIN entries, PIN + confirmation (two consecutive entries of one user),
    and three entries in a row (18 taps: a stand-in for a longer numeric login, an account
    number and a PIN, by the most regular typists we have)."""
    entries = strokepin.load_entries(root)
    out = {"single": [e.keys for e in entries], "doubled": [], "tripled": []}
    for a, b in itertools.pairwise(entries):
        if a.user == b.user:
            out["doubled"].append(_joined([a.keys, b.keys]))
    for i in range(0, len(entries) - 2, 3):
        if len({e.user for e in entries[i:i + 3]}) == 1:
            out["tripled"].append(_joined([e.keys for e in entries[i:i + 3]]))
    return out


def browser_eval(cfg) -> dict | None:
    spec_path = ROOT / "bench" / "guard_bots.py"
    import importlib.util
    spec = importlib.util.spec_from_file_location("guard_bots", spec_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = mod.load_cached()
    if data is None:
        return None
    from biometrics.events import Session
    out = {}
    people = [Session.model_validate(r["session"]) for r in data["people"]]
    out["people_flagged"] = _rate([bool(G.bot_like(s, cfg)) for s in people])
    out["people_flagged_by_keystrokes"] = _rate([G.keystroke_bot_like(s, cfg) for s in people])
    by: dict[str, list] = {}
    by_keys: dict[str, list] = {}  # the typing alone: a bot may move the mouse like a person
    for r in data["bots"]:
        s = Session.model_validate(r["session"])
        by.setdefault(f"{r['typing']}+{r['pointer']}", []).append(bool(G.bot_like(s, cfg)))
        by_keys.setdefault(r["typing"], []).append(G.keystroke_bot_like(s, cfg))
    out["bots_caught"] = {k: _rate(v) for k, v in by.items()}
    out["bots_caught_by_keystrokes"] = {k: _rate(v) for k, v in by_keys.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets-dir", type=Path, default=None)
    ap.add_argument("--aalto-users", type=int, default=150)
    ap.add_argument("--skip-users", type=int, default=300, help="Aalto users kept out (the LLR fit)")
    ap.add_argument("--chunk", type=int, default=400, help="Balabit events per login-sized chunk")
    ap.add_argument("--chunks-per-session", type=int, default=4)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--cmu-per-subject", type=int, default=40, help="CMU password repetitions per subject")
    ap.add_argument("--bots", type=int, default=400)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    t0 = time.time()
    root = datasets_root(args.datasets_dir)
    cfg = G.GuardConfig()
    rng = np.random.default_rng(0)
    res: dict = {"command": "python bench/guards.py " + " ".join(sys.argv[1:])}
    aal = aalto_people(root, args.aalto_users, args.skip_users)
    bal = balabit_people(root, args.chunk, args.chunks_per_session)
    key_sketch = lambda k: G.keystroke_sketch(k, cfg.sketch_key)
    cmu = cmu_people(root, args.cmu_per_subject)
    res["replay"] = {
        "aalto_keystrokes": replay_eval(aal, key_sketch, replay_keys, "keystrokes", cfg, rng, args.per_person),
        "cmu_password_keystrokes": replay_eval(cmu, key_sketch, replay_keys, "keystrokes", cfg, rng, args.per_person),
        "balabit_pointer": replay_eval(bal, lambda p: G.path_sketch(p.x, p.y, cfg.sketch_key), replay_pointer,
                                       "pointer", cfg, rng, args.per_person),
        "cmu_login_keystrokes": replay_eval(cmu_logins(cmu), key_sketch, replay_keys, "keystrokes", cfg, rng,
                                            args.per_person),
    }
    brng = np.random.default_rng(1)  # the bots' own draws: unchanged by the replay section
    kb, pb = keystroke_bots(brng, args.bots), pointer_bots(brng, args.bots // 4)
    pins = pin_entries(root)
    chunks = login_chunks(aal, brng)
    res["bots"] = {
        # Desktop logins; and the same scripts claiming a touchscreen (device_type mobile).
        "keystroke_bots_caught": {k: _rate([key_flag(b, cfg, True) for b in v]) for k, v in kb.items()},
        "keystroke_bots_caught_as_touchscreen": {k: _rate([key_flag(b, cfg, False) for b in v])
                                                 for k, v in kb.items()},
        "pointer_bots_caught": {k: _rate([G.pointer_bot_like_arrays(b, cfg) for b in v]) for k, v in pb.items()},
        "genuine_flagged": {
            "aalto_keystrokes": _rate([key_flag(k, cfg, True) for ss in aal for k in ss]),
            "balabit_pointer_chunks": _rate([G.pointer_bot_like_arrays(p, cfg) for ss in bal for p in ss]),
            "aalto_login_chunks": _rate([key_flag(k, cfg, True) for k in chunks]),
            "aalto_login_chunks_password_last": _rate([key_flag(k, cfg, True) for k in password_last(chunks, brng)]),
            "strokepin_single_pin": _rate([key_flag(k, cfg, False) for k in pins["single"]]),
            "strokepin_pin_and_confirm": _rate([key_flag(k, cfg, False) for k in pins["doubled"]]),
            "strokepin_three_entries": _rate([key_flag(k, cfg, False) for k in pins["tripled"]]),
        },
        "browser_rig": browser_eval(cfg) or "not run: no cache (python bench/guard_bots.py writes it)",
    }
    res["wall_s"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
