"""Offline drift report for a period: an HTML page with embedded PNG plots (and a JSON line on stdout).

    # input features of live sessions against the bundle's references (or reference sessions)
    python -m training.drift_report --bundle bundles/default.pt --sessions live.jsonl \\
        --from 2026-03-01T00:00:00Z --to 2026-03-08T00:00:00Z --out drift.html
    python -m training.drift_report --bundle bundles/default.pt --sessions live.jsonl \\
        --reference-sessions sample_data/sessions.jsonl --out drift.html
    # decisions the API logged (the store's decisions table: risk, decision, model version, tenant;
    # no events, no user ids): risk distribution and decision shares against a baseline period
    python -m training.drift_report --decisions sqlite:///var/biometrics.db \\
        --from 2026-03-07T00:00:00Z --to 2026-03-08T00:00:00Z --out decisions.html
    # attach feature references computed from reference sessions to a bundle (for the API's monitor)
    python -m training.drift_report --bundle bundles/default.pt --reference-sessions validation.jsonl \\
        --write-bundle bundles/default_with_reference.pt

**Sessions** (``--sessions``): JSON lines, each a session of contract v2 or an object with a
``session`` field (``sample_data/sessions.jsonl``'s labelled format; only ``genuine`` ones
count when a ``label`` is given) and optionally ``at``, when it was scored (ISO 8601);
``--from`` / ``--to`` keep the lines with ``at`` in ``[from, to)``, and lines without ``at``
only when no period is given. The features are those of :mod:`biometrics.drift` (median
down-down and hold, pointer and touch speed, touch pressure, device-type shares), each session
counted for the scorers that would observe it; the reference is the bundle's
(``ModelBundle.references``) or, when the bundle carries none or ``--reference-sessions`` is
given, computed here from that labelled-session file. The bundled ``bundles/default.pt``
carries no feature references (its builder does not see the keystroke scorer's validation
sessions), so give it ``--reference-sessions``, or attach them once with ``--write-bundle``.

**Decisions** (``--decisions`` DATABASE_URL): the period's logged decisions against the
baseline (``--baseline-from`` / ``--baseline-to``, default the equally long period just
before): per tenant, counts and allow / challenge / deny shares; the PSI of the risk on the
baseline's deciles; daily decision shares. The decisions log holds the fused risk only, so
per-scorer score drift is the live monitor's (``biometrics_drift_psi{feature="score"}``).

PSI levels: below 0.1 stable, 0.1-0.25 some shift, above 0.25 a shift to act on (the alert's
threshold).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import itertools
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.bundle import ModelBundle
from biometrics.drift import (
    SCORE,
    DriftReference,
    categorical_psi,
    feature_values,
    numeric_shares,
    psi,
    reference_from_sessions,
)
from biometrics.events import Session

ACT_ON = 0.25
SOME_SHIFT = 0.1


class ReportError(ValueError):
    """Bad input for the report, with what to do about it."""


def level(value: float) -> str:
    """The usual reading of a PSI."""
    return "act on it" if value > ACT_ON else "some shift" if value > SOME_SHIFT else "stable"


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 (``Z`` allowed; a time without zone is UTC)."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{text!r}: not an ISO 8601 time (e.g. 2026-03-01T00:00:00Z)") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


# Sessions -----------------------------------------------------------------------------


def read_sessions(path: str | Path, start: datetime | None = None, end: datetime | None = None,
                  genuine_only: bool = True) -> list[Session]:
    """Sessions of a JSON-lines file within ``[start, end)`` (see the module docstring)."""
    p = Path(path)
    if p.is_dir():
        p = p / "sessions.jsonl"
    if not p.is_file():
        raise ReportError(f"{p}: no such file")
    out = []
    with p.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as err:
                raise ReportError(f"{p}, line {n}: not valid JSON ({err})") from None
            wrapped = isinstance(obj, dict) and isinstance(obj.get("session"), dict)
            if wrapped and genuine_only and obj.get("label", "genuine") != "genuine":
                continue
            at = parse_time(obj.get("at")) if wrapped else None
            if (start is not None or end is not None) and (
                    at is None or (start is not None and at < start) or (end is not None and at >= end)):
                continue
            try:
                out.append(Session.model_validate(obj["session"] if wrapped else obj))
            except ValueError as err:
                raise ReportError(f"{p}, line {n}: not a session of contract v2 "
                                  f"({str(err).splitlines()[0]})") from None
    return out


def session_drift(bundle: ModelBundle, sessions: Sequence[Session],
                  reference_sessions: Sequence[Session] | None = None, bins: int = 10) -> dict[str, Any]:
    """PSI and bin shares of each (scorer, feature) of ``sessions`` against the reference."""
    refs = reference_from_sessions(bundle, reference_sessions) if reference_sessions is not None else None
    reference = DriftReference.of_bundle(bundle, refs)
    if not any(f != SCORE for _, f in reference.pairs()):
        raise ReportError("the bundle carries no feature references: give --reference-sessions (labelled "
                          "sessions such as the bundle's validation sessions)")
    values = feature_values(bundle, reference, sessions)
    rows = []
    for (name, feature), vals in sorted(values.items()):
        ref = reference.scorers[name]
        if not vals:
            continue
        if feature in ref.categorical:
            shares = ref.categorical[feature]
            cats = sorted(set(shares) | set(vals))
            rows.append({"scorer": name, "feature": feature, "n": len(vals),
                         "psi": categorical_psi(shares, vals), "bins": cats,
                         "reference": [shares.get(c, 0.0) for c in cats],
                         "live": [vals.count(c) / len(vals) for c in cats]})
        else:
            edges, expected, actual = numeric_shares(ref.numeric[feature], vals, bins)
            rows.append({"scorer": name, "feature": feature, "n": len(vals),
                         "psi": psi(expected, actual), "bins": _bin_labels(edges),
                         "reference": expected.tolist(), "live": actual.tolist(),
                         "reference_median": float(np.median(ref.numeric[feature])),
                         "live_median": float(np.median(vals))})
    for r in rows:
        r["level"] = level(r["psi"])
    return {"kind": "sessions", "model_version": bundle.model_version, "n_sessions": len(sessions),
            "reference": "reference sessions" if refs is not None else "bundle", "features": rows}


def _bin_labels(edges: np.ndarray) -> list[str]:
    e = [f"{x:.3g}" for x in edges]
    if not e:
        return ["all"]
    return [f"< {e[0]}", *(f"{a}-{b}" for a, b in itertools.pairwise(e)), f">= {e[-1]}"]


# Decisions ----------------------------------------------------------------------------


def read_decisions(url: str, start: datetime, end: datetime, tenant: str | None = None) -> list[dict[str, Any]]:
    """Logged decisions of ``[start, end)`` from the store (tenant, risk, decision, model version, time)."""
    from sqlalchemy import create_engine, select

    from biometrics.store import decisions

    engine = create_engine(url)
    d = decisions
    query = (select(d.c.tenant, d.c.risk, d.c.decision, d.c.model_version, d.c.created_at)
             .where(d.c.created_at >= start, d.c.created_at < end).order_by(d.c.created_at))
    if tenant is not None:
        query = query.where(d.c.tenant == tenant)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    return [{"tenant": r.tenant, "risk": float(r.risk), "decision": r.decision, "model_version": r.model_version,
             "at": r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC)} for r in rows]


def decision_drift(period: Sequence[dict], baseline: Sequence[dict], bins: int = 10) -> dict[str, Any]:
    """Per tenant (and all together): decision shares and the risk's PSI against the baseline."""
    tenants = sorted({r["tenant"] for r in (*period, *baseline)})
    rows = []
    for tenant in (None, *tenants):
        now = [r for r in period if tenant is None or r["tenant"] == tenant]
        then = [r for r in baseline if tenant is None or r["tenant"] == tenant]
        row: dict[str, Any] = {"tenant": tenant or "(all)", "n": len(now), "n_baseline": len(then),
                               "shares": _shares(now), "baseline_shares": _shares(then)}
        if now and len(then) >= 10:
            ref = np.quantile([r["risk"] for r in then], np.linspace(0, 1, 201))
            edges, expected, actual = numeric_shares(ref, [r["risk"] for r in now], bins)
            row |= {"psi": psi(expected, actual), "bins": _bin_labels(edges), "reference": expected.tolist(),
                    "live": actual.tolist()}
            row["level"] = level(row["psi"])
        rows.append(row)
    days: dict[str, list[str]] = {}
    for r in period:
        days.setdefault(r["at"].strftime("%Y-%m-%d"), []).append(r["decision"])
    daily = {day: {d: v.count(d) / len(v) for d in ("allow", "challenge", "deny")} for day, v in sorted(days.items())}
    return {"kind": "decisions", "tenants": rows, "daily": daily,
            "model_versions": sorted({r["model_version"] for r in period})}


def _shares(rows: Sequence[dict]) -> dict[str, float]:
    n = max(len(rows), 1)
    return {d: sum(r["decision"] == d for r in rows) / n for d in ("allow", "challenge", "deny")}


# HTML ---------------------------------------------------------------------------------


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(title: str, labels: Sequence[str], reference: Sequence[float], live: Sequence[float],
          names: tuple[str, str] = ("reference", "period")) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    x = np.arange(len(labels))
    ax.bar(x - 0.2, reference, 0.4, label=names[0], color="#8aa4c8")
    ax.bar(x + 0.2, live, 0.4, label=names[1], color="#d9822b")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


def _daily(daily: dict[str, dict[str, float]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 2.6))
    days = list(daily)
    for d, color in (("allow", "#4c9a2a"), ("challenge", "#d9a12b"), ("deny", "#c0392b")):
        ax.plot(days, [daily[k][d] for k in days], marker="o", label=d, color=color)
    ax.set_ylabel("share of decisions")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend(fontsize=7)
    ax.set_title("Decisions per day", fontsize=9)
    return _png(fig)


_STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
          ".act{background:#f6c6c0}.some{background:#fbe7b5}.stable{background:#d8efcf}img{display:block}")


def _cls(lvl: str | None) -> str:
    return {"act on it": "act", "some shift": "some", "stable": "stable"}.get(lvl or "", "")


def render_html(report: dict[str, Any], period: str) -> str:
    """The report as one self-contained HTML page (plots as embedded PNGs)."""
    e = html.escape
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>Drift report {e(period)}</title>"
              f"<style>{_STYLE}</style></head><body><h1>Drift report</h1><p>Period: {e(period)}. "
              "PSI below 0.1: stable; 0.1-0.25: some shift; above 0.25: act on it (the alert's threshold).</p>")]
    if report["kind"] == "sessions":
        parts.append(f"<p>Model {e(report['model_version'])}; {report['n_sessions']} sessions; reference: "
                     f"{e(report['reference'])}.</p><table><tr><th>scorer</th><th>feature</th><th>sessions</th>"
                     "<th>PSI</th><th>reading</th><th>median ref / period</th></tr>")
        for r in report["features"]:
            med = (f"{r['reference_median']:.3g} / {r['live_median']:.3g}" if "live_median" in r else "")
            parts.append(f"<tr class='{_cls(r['level'])}'><td>{e(r['scorer'])}</td><td>{e(r['feature'])}</td>"
                         f"<td>{r['n']}</td><td>{r['psi']:.3f}</td><td>{r['level']}</td><td>{med}</td></tr>")
        parts.append("</table>")
        for r in report["features"]:
            img = _bars(f"{r['scorer']} {r['feature']} (PSI {r['psi']:.3f})", r["bins"], r["reference"], r["live"])
            parts.append(f"<h3>{e(r['scorer'])}: {e(r['feature'])}</h3><img alt='{e(r['feature'])}' "
                         f"src='data:image/png;base64,{img}'>")
    else:
        parts.append(f"<p>Model versions in the period: {e(', '.join(report['model_versions']) or '-')}.</p>"
                     "<table><tr><th>tenant</th><th>decisions</th><th>baseline</th><th>allow / challenge / deny</th>"
                     "<th>baseline</th><th>risk PSI</th><th>reading</th></tr>")
        fmt = lambda s: " / ".join(f"{s[d]:.1%}" for d in ("allow", "challenge", "deny"))
        for r in report["tenants"]:
            value = f"{r['psi']:.3f}" if "psi" in r else "-"
            parts.append(f"<tr class='{_cls(r.get('level'))}'><td>{e(r['tenant'])}</td><td>{r['n']}</td>"
                         f"<td>{r['n_baseline']}</td><td>{fmt(r['shares'])}</td><td>{fmt(r['baseline_shares'])}</td>"
                         f"<td>{value}</td><td>{r.get('level', 'too few decisions')}</td></tr>")
        parts.append("</table>")
        if report["daily"]:
            parts.append(f"<img alt='daily' src='data:image/png;base64,{_daily(report['daily'])}'>")
        for r in report["tenants"]:
            if "psi" in r:
                img = _bars(f"risk, tenant {r['tenant']} (PSI {r['psi']:.3f})", r["bins"], r["reference"], r["live"],
                            ("baseline", "period"))
                parts.append(f"<h3>Risk: {e(r['tenant'])}</h3><img alt='risk' src='data:image/png;base64,{img}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The JSON line printed on stdout: the PSI of each row."""
    if report["kind"] == "sessions":
        return {"kind": "sessions", "n_sessions": report["n_sessions"],
                "psi": {f"{r['scorer']}.{r['feature']}": round(r["psi"], 4) for r in report["features"]}}
    return {"kind": "decisions", "psi": {r["tenant"]: round(r["psi"], 4) for r in report["tenants"] if "psi" in r},
            "n": {r["tenant"]: r["n"] for r in report["tenants"]}}


# CLI ----------------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, help="model bundle (.pt): its scorers and references")
    ap.add_argument("--sessions", type=Path, help="live sessions (JSON lines; see the module docstring)")
    ap.add_argument("--reference-sessions", type=Path,
                    help="labelled sessions to compute the feature references from (genuine ones)")
    ap.add_argument("--decisions", metavar="DATABASE_URL", help="the store's URL, e.g. sqlite:///var/biometrics.db")
    ap.add_argument("--tenant", help="only this tenant's decisions")
    ap.add_argument("--from", dest="start", help="period start (ISO 8601, inclusive)")
    ap.add_argument("--to", dest="end", help="period end (ISO 8601, exclusive; default now for --decisions)")
    ap.add_argument("--baseline-from", help="decisions baseline start (default: the period's length before it)")
    ap.add_argument("--baseline-to", help="decisions baseline end (default: the period's start)")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--out", type=Path, help="HTML report")
    ap.add_argument("--write-bundle", type=Path, help="write --bundle with references from --reference-sessions")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        return _run(args)
    except (ReportError, FileNotFoundError) as err:
        print(f"drift_report: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    start, end = parse_time(args.start), parse_time(args.end)
    if args.write_bundle is not None:
        if args.bundle is None or args.reference_sessions is None:
            raise ReportError("--write-bundle needs --bundle and --reference-sessions")
        bundle = ModelBundle.load(args.bundle)
        refs = reference_from_sessions(bundle, read_sessions(args.reference_sessions))
        bundle.references = {n: r.payload() for n, r in refs.items()}
        bundle.save(args.write_bundle, compress=True)
        print(json.dumps({"bundle": str(args.write_bundle), "references": {n: r.n_sessions for n, r in refs.items()}}))
        return 0
    if args.out is None:
        raise ReportError("give --out report.html")
    if (args.sessions is None) == (args.decisions is None):
        raise ReportError("give one of --sessions (with --bundle) or --decisions")
    if args.sessions is not None:
        if args.bundle is None:
            raise ReportError("--sessions needs --bundle")
        bundle = ModelBundle.load(args.bundle)
        sessions = read_sessions(args.sessions, start, end, genuine_only=False)
        if not sessions:
            raise ReportError(f"{args.sessions}: no sessions in the period")
        ref = read_sessions(args.reference_sessions) if args.reference_sessions is not None else None
        report = session_drift(bundle, sessions, ref, args.bins)
        period = f"{args.start or 'start'} to {args.end or 'end'}"
    else:
        end = end or datetime.now(UTC)
        if start is None:
            raise ReportError("--decisions needs --from (and optionally --to)")
        b_end = parse_time(args.baseline_to) or start
        b_start = parse_time(args.baseline_from) or (b_end - (end - start))
        if not (b_start < b_end and start < end):
            raise ReportError("periods must have their start before their end")
        now = read_decisions(args.decisions, start, end, args.tenant)
        then = read_decisions(args.decisions, b_start, b_end, args.tenant)
        report = decision_drift(now, then, args.bins)
        period = (f"{start.isoformat()} to {end.isoformat()} (baseline {b_start.isoformat()} to "
                  f"{b_end.isoformat()})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_html(report, period), encoding="utf-8")
    print(json.dumps(summary(report) | {"out": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
