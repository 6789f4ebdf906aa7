"""`python -m training.evaluate_bundle`: a bundle evaluated on a file of labelled sessions
through the scoring service (issue 14.6), and the served-evaluation core it shares with
``bench/product_accuracy.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from biometrics.labelled_sessions import InputError, LabelledRecord, read_labelled_sessions
from serving.evaluation import evaluate_labelled_sessions, served_figures
from training.evaluate_bundle import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "sessions.jsonl"
BUNDLE = ROOT / "bundles" / "sample.pt"
#: The keys of bench/product_accuracy.py's served figures.
FIGURES = {"eer_mean_per_user", "eer_pooled", "roc_auc", "far_at_frr_1pct", "decisions", "n_genuine",
           "n_impostor", "impostors_allowed", "genuine_denied", "genuine_not_allowed", "reasons"}


@pytest.fixture(autouse=True)
def _served_defaults(monkeypatch):
    """The service's settings come from BIOMETRICS_* variables: none of the caller's."""
    for k in [k for k in os.environ if k.startswith("BIOMETRICS_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    """The CLI on the whole shipped sample (20 users, bundles/sample.pt): about ten seconds."""
    out = tmp_path_factory.mktemp("report") / "report.json"
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("BIOMETRICS_")]:
            mp.delenv(k)
        report = main(["--bundle", str(BUNDLE), "--sessions", str(SAMPLE), "--out", str(out)])
    return report, out


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def _sample_lines(n: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    return rows if n is None else rows[:n]


def _subset(users: set[str], labels=("genuine", "impostor")) -> list[dict]:
    return [r for r in _sample_lines() if r["user_id"] in users and r["label"] in labels]


def _run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


# The sample data, end to end ---------------------------------------------------------


def test_the_sample_data_separates_genuine_users_from_impostors(sample_report):
    report, _ = sample_report
    assert FIGURES <= set(report)
    for key in ("n_users", "enrollment_sessions", "refused_at_enrollment", "thresholds", "latency_ms",
                "model_version", "bundle", "attacks", "by_device", "impostor_trials"):
        assert key in report, key
    assert report["n_users"] == 20 and report["users_not_enrolled"] == []
    assert report["n_genuine"] == 120 and report["n_impostor"] == 60
    assert report["impostor_trials"] == {"from_file": 60, "derived": 0, "derived_per_genuine_session": 0,
                                         "seed": 0}
    assert report["roc_auc"] > 0.95
    assert report["eer_pooled"] < 0.1 and report["eer_mean_per_user"] < 0.1
    # Target FAR 5% on held-out users; 60 impostor sessions give it +-3 points (as tests/test_demo.py).
    assert report["impostors_allowed"] <= 0.10 and report["genuine_denied"] < 0.1
    for kind, n in (("genuine", 120), ("impostor", 60)):
        assert sum(report["decisions"][kind].values()) == n
        assert set(report["decisions"][kind]) <= {"allow", "challenge", "deny"}
    assert report["model_version"] == "sample-synthetic-s101"
    assert set(report["latency_ms"]) == {"p50", "p99", "mean"} and report["latency_ms"]["p50"] > 0
    t = report["thresholds"]
    assert set(t["by_modalities"]) == {"keystrokes+pointer", "keystrokes+touch"}
    assert all(0 < v["allow_below"] <= v["deny_at_or_above"] <= 1 for v in t["by_modalities"].values())
    # Bots and replays are reported apart, not mixed into the verification figures.
    assert report["attacks"]["bot"]["n"] == 20 and report["attacks"]["replay"]["n"] == 20
    assert report["attacks"]["bot"]["caught"] == 1.0 and report["attacks"]["replay"]["caught"] == 1.0
    assert report["attacks"]["bot"]["flagged_bot_like_timing"] == 1.0
    assert report["attacks"]["replay"]["flagged_replayed_session"] == 1.0
    # Cohorts by device type: each with its own figures, adding up to the whole.
    assert set(report["by_device"]) == {"desktop", "mobile"}
    assert sum(c["n_genuine"] for c in report["by_device"].values()) == 120
    assert sum(c["n_impostor"] for c in report["by_device"].values()) == 60
    assert all(FIGURES <= set(c) for c in report["by_device"].values())


def test_the_report_is_printed_and_written(sample_report, capsys):
    report, out = sample_report
    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(report))
    assert written["command"].startswith("python -m training.evaluate_bundle --bundle")


def test_derived_impostor_trials_are_seeded_and_deterministic(tmp_path):
    """Four users, --enroll 3 --impostors 2: the same seed gives the same answers, another seed
    other draws; each genuine test session adds two impostor trials against other accounts."""
    path = tmp_path / "four.jsonl"
    path.write_text(_lines(_subset({"u000", "u001", "u012", "u013"}, labels=("genuine",))))
    records = read_labelled_sessions(path)
    a = evaluate_labelled_sessions(records, BUNDLE, enroll=3, impostors=2, seed=5)
    b = evaluate_labelled_sessions(records, BUNDLE, enroll=3, impostors=2, seed=5)
    for r in (a, b):
        r.pop("latency_ms")
    assert a == b
    n_genuine = sum(r.split == "test" for r in records)
    assert a["n_genuine"] == n_genuine and a["n_impostor"] == 2 * n_genuine
    assert a["impostor_trials"] == {"from_file": 0, "derived": 2 * n_genuine,
                                    "derived_per_genuine_session": 2, "seed": 5}
    assert a["enrollment_sessions"] == 3 and a["enrolled_sessions_per_user"] == {"min": 3, "max": 3}
    assert a["roc_auc"] > 0.8
    c = evaluate_labelled_sessions(records, BUNDLE, enroll=3, impostors=2, seed=6)
    assert c["n_impostor"] == a["n_impostor"]


def test_served_figures_of_hand_made_rows():
    row = lambda user, risk, decision: {"user": user, "risk": risk, "decision": decision, "reasons": []}
    genuine = [row("a", 0.1, "allow"), row("a", 0.2, "allow"), row("b", 0.3, "challenge")]
    impostor = [row("a", 0.9, "deny"), row("b", 0.8, "deny"), row("b", 0.25, "allow")]
    f = served_figures(genuine, impostor)
    assert f["eer_mean_per_user"] == pytest.approx(0.25)  # a: 0; b: 0.5 (an impostor below its genuine)
    assert f["decisions"] == {"genuine": {"allow": 2, "challenge": 1}, "impostor": {"deny": 2, "allow": 1}}
    assert f["impostors_allowed"] == pytest.approx(1 / 3) and f["genuine_not_allowed"] == pytest.approx(1 / 3)
    assert f["roc_auc"] == pytest.approx(8 / 9)
    # No user with both kinds: no per-user EER, the pooled figures still.
    f = served_figures(genuine[:1], [row("z", 0.9, "deny")])
    assert f["eer_mean_per_user"] is None and f["eer_pooled"] == 0.0


# Bad input: one line, exit status 2 ---------------------------------------------------


def _bad(tmp_path, capsys, records: list[dict] | str, *extra: str) -> str:
    path = tmp_path / "bad.jsonl"
    path.write_text(records if isinstance(records, str) else _lines(records))
    code, out, err = _run_cli(capsys, ["--bundle", str(BUNDLE), "--sessions", str(path), *extra])
    assert code == 2 and out == ""
    assert err.startswith("evaluate_bundle: error: ") and err.count("\n") == 1, err
    return err


def test_an_unknown_label_is_one_line(tmp_path, capsys):
    rows = _sample_lines(3)
    rows[2]["label"] = "attacker"
    err = _bad(tmp_path, capsys, rows)
    assert "line 3" in err and "unknown label 'attacker'" in err and "genuine" in err


def test_a_malformed_session_is_one_line(tmp_path, capsys):
    rows = _sample_lines(2)
    rows[1]["session"]["keystrokes"][0]["key"] = "a"  # a collector leaking the key
    err = _bad(tmp_path, capsys, rows)
    assert "line 2" in err and "session.keystrokes.0.key" in err
    rows = _sample_lines(2)
    rows[0]["session"]["schema_version"] = 1
    err = _bad(tmp_path, capsys, rows)
    assert "line 1: session: schema_version 1 is not supported" in err


def test_not_json_an_unknown_field_and_a_missing_field(tmp_path, capsys):
    good = json.dumps(_sample_lines(1)[0])
    assert "line 2: not valid JSON" in _bad(tmp_path, capsys, good + "\n{not json\n")
    rows = _sample_lines(1)
    rows[0]["claimed"] = "u001"
    assert "claimed: unknown field" in _bad(tmp_path, capsys, rows)
    rows = _sample_lines(1)
    del rows[0]["split"]
    assert "split" in _bad(tmp_path, capsys, rows)


def test_an_account_without_enrollment_is_one_line(tmp_path, capsys):
    rows = [r for r in _subset({"u000", "u001"}) if not (r["user_id"] == "u001" and r["split"] == "enroll")]
    err = _bad(tmp_path, capsys, rows)
    assert "'u001'" in err and "no enrollment session" in err


def test_an_enrollment_session_must_be_genuine(tmp_path, capsys):
    rows = _subset({"u000"})
    rows[0]["label"] = "impostor"
    assert "enrollment session must be genuine" in _bad(tmp_path, capsys, rows)


def test_no_impostor_trials_says_what_to_pass(tmp_path, capsys):
    err = _bad(tmp_path, capsys, _subset({"u000", "u001"}, labels=("genuine",)))
    assert "no impostor trials" in err and "--impostors K" in err


def test_missing_files_and_bad_numbers(tmp_path, capsys):
    code, _, err = _run_cli(capsys, ["--bundle", str(BUNDLE), "--sessions", str(tmp_path / "none.jsonl")])
    assert code == 2 and "no such file" in err and err.count("\n") == 1
    code, _, err = _run_cli(capsys, ["--bundle", str(tmp_path / "no.pt"), "--sessions", str(SAMPLE)])
    assert code == 2 and "no model bundle" in err
    (tmp_path / "empty.jsonl").write_text("\n")
    code, _, err = _run_cli(capsys, ["--bundle", str(BUNDLE), "--sessions", str(tmp_path / "empty.jsonl")])
    assert code == 2 and "no labelled sessions" in err
    err = _bad(tmp_path, capsys, _subset({"u000", "u001"}), "--impostors", "-1")
    assert "--impostors must be 0 or more" in err


def test_the_command_exits_2_without_a_traceback(tmp_path):
    rows = _sample_lines(2)
    rows[1]["label"] = "fraudster"
    path = tmp_path / "bad.jsonl"
    path.write_text(_lines(rows))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMETRICS_")} | {"OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "training.evaluate_bundle", "--bundle", str(BUNDLE),
                        "--sessions", str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=180, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "line 2" in r.stderr and "unknown label 'fraudster'" in r.stderr


# The file format ----------------------------------------------------------------------


def test_the_shipped_sample_is_a_valid_input():
    records = read_labelled_sessions(SAMPLE.parent)  # a folder means its sessions.jsonl
    assert len(records) == 380 and all(isinstance(r, LabelledRecord) for r in records)
    assert {r.label for r in records} == {"genuine", "impostor", "bot", "replay"}


def test_parquet_without_pyarrow_says_so(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        path = tmp_path / "s.parquet"
        path.write_bytes(b"PAR1")
        with pytest.raises(InputError, match="needs pyarrow"):
            read_labelled_sessions(path)
    else:
        pytest.skip("pyarrow is installed: the Parquet reader is tested below")


def test_parquet_reads_the_same_records(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = _sample_lines(12)
    table = pa.table({
        "user_id": [r["user_id"] for r in rows], "split": [r["split"] for r in rows],
        "label": [r["label"] for r in rows], "device": [r["device"] for r in rows],
        "attacker_id": [r["attacker_id"] for r in rows],
        "session": [json.dumps(r["session"]) for r in rows],
    })
    pq.write_table(table, tmp_path / "s.parquet")
    got = read_labelled_sessions(tmp_path / "s.parquet")
    want = read_labelled_sessions(SAMPLE)[:12]
    assert [(r.user_id, r.split, r.label, r.session) for r in got] == \
           [(r.user_id, r.split, r.label, r.session) for r in want]
    bad = table.set_column(2, "label", pa.array(["genuine"] * 11 + ["nobody"]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"row 12: label: unknown label 'nobody'"):
        read_labelled_sessions(tmp_path / "bad.parquet")
