"""The README's main job end to end: uvicorn on the shipped bundle, enroll and score over HTTP."""

import pytest

from serving import demo


@pytest.fixture(scope="module")
def summary():
    return demo.main(["--json"])


def test_every_sample_session_is_answered(summary):
    assert summary["n"] == {"genuine": 120, "impostor": 60, "bot": 20, "replay": 20}


def test_attacks_are_caught_and_owners_are_not_denied(summary):
    assert summary["bots_flagged"] == 1.0 and summary["replays_flagged"] == 1.0
    assert summary["FAR"] <= 0.10  # target FAR 5% on held-out users
    assert summary["FRR_deny"] <= 0.05  # target FRR (deny) 1% on held-out users
