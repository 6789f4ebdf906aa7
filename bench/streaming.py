"""Streaming scoring latency on ONE core: a session's events pushed in chunks as a collector sends them.

Run: ``python bench/streaming.py``. Prints one JSON line and writes
``bench/results/streaming.json``. For mouse (:func:`biometrics.streaming.action_stream`)
and touch (:func:`biometrics.streaming.stroke_stream`) it plays sessions of the synthetic
streams of ``bench/features.py`` in fixed-size chunks; every push re-cuts the buffered
session and scores the newly completed items with a per-account gradient-boosting model on
their classic features (the Balabit head). Reported per push, over all pushes of all
sessions: latency percentiles and the latency of the final pushes (the longest buffers),
plus the items scored per session.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import platform
import time

import numpy as np
from features import split_sessions, synth_pointer, synth_touch

from biometrics.classic import two_class_anomaly
from biometrics.events import slice_arrays
from biometrics.features import mouse_actions, stroke_features
from biometrics.reports import publish_result, rerun_command
from biometrics.streaming import ItemStream, action_stream, stroke_stream


def _model(features: np.ndarray, rng: np.random.Generator):
    """An owner-vs-others boosting model on half the items, the other half as 'others'."""
    half = rng.permutation(features.shape[0])
    return two_class_anomaly(features[half[::2]], features[half[1::2]] * 1.1, "boosting", 0)


def _play(make_stream, sessions: list, chunk: int) -> dict:
    """Push every session in chunks of ``chunk`` events; per-push latencies in ms."""
    lat, last, items = [], [], []
    for s in sessions:
        stream: ItemStream = make_stream()
        n = len(s.t)
        for a in range(0, n, chunk):
            part = slice_arrays(s, a, a + chunk)
            t0 = time.perf_counter()
            stream.push(part)
            lat.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        stream.close()
        last.append((time.perf_counter() - t0) * 1e3)
        items.append(stream.n_items)
    lat_a = np.array(lat)
    return {
        "pushes": int(lat_a.size),
        "push_ms_p50": round(float(np.percentile(lat_a, 50)), 3),
        "push_ms_p95": round(float(np.percentile(lat_a, 95)), 3),
        "push_ms_p99": round(float(np.percentile(lat_a, 99)), 3),
        "push_ms_max": round(float(lat_a.max()), 3),
        "close_ms_p50": round(float(np.median(last)), 3),
        "items_per_session_mean": round(float(np.mean(items)), 1),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--mouse-events", type=int, default=3000, help="events per mouse session")
    ap.add_argument("--touch-events", type=int, default=2000, help="events per touch session")
    ap.add_argument("--mouse-chunk", type=int, default=50, help="events per push (0.5 s at 100 Hz)")
    ap.add_argument("--touch-chunk", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/streaming.json")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    mouse = split_sessions(*synth_pointer(args.sessions, args.mouse_events, rng))
    touch = split_sessions(*synth_touch(args.sessions, args.touch_events, rng))
    mouse_model = _model(np.concatenate([mouse_actions(s)[1] for s in mouse]), rng)
    touch_model = _model(np.concatenate([stroke_features(s)[0] for s in touch]), rng)
    start = time.perf_counter()
    result = {
        "mouse": {"events_per_session": args.mouse_events, "chunk_events": args.mouse_chunk,
                  **_play(lambda: action_stream(lambda _, f: mouse_model(f)), mouse, args.mouse_chunk)},
        "touch": {"events_per_session": args.touch_events, "chunk_events": args.touch_chunk,
                  **_play(lambda: stroke_stream(lambda _, f: touch_model(f)), touch, args.touch_chunk)},
        "sessions": args.sessions,
        "threads": 1,
        "scorer": "per-account gradient boosting (200 rounds) on the items' classic features",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": rerun_command("bench/streaming.py", argv),
    }
    result["wall_s"] = round(time.perf_counter() - start, 1)
    publish_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
