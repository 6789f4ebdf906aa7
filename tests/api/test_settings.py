"""serving.settings: read from BIOMETRICS_* variables, validated at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.settings import DEV_API_KEYS, Settings


def test_defaults_start_a_dev_server(monkeypatch):
    for name in ("API_KEYS", "USER_ID_SECRET", "BUNDLE_PATH", "DATABASE_URL"):
        monkeypatch.delenv(f"BIOMETRICS_{name}", raising=False)
    s = Settings()
    assert s.api_keys == DEV_API_KEYS and s.uses_dev_secrets
    assert str(s.bundle_path) == "bundles/default.pt" and s.database_url == "sqlite:///var/biometrics.db"
    assert s.max_request_bytes == 2_000_000 and s.allow_below is None and s.deny_at_or_above is None
    assert 0 < s.target_frr < s.target_far < 1  # thresholds come from target error rates by default


def test_reads_the_environment(monkeypatch):
    monkeypatch.setenv("BIOMETRICS_API_KEYS", '{"key-of-acme": "acme", "key-of-globex": "globex"}')
    monkeypatch.setenv("BIOMETRICS_USER_ID_SECRET", "s" * 32)
    monkeypatch.setenv("BIOMETRICS_ALLOW_BELOW", "0.4")
    monkeypatch.setenv("BIOMETRICS_MIN_ENROLL_SESSIONS", "5")
    s = Settings()
    assert s.api_keys == {"key-of-acme": "acme", "key-of-globex": "globex"}
    assert s.allow_below == 0.4 and s.min_enroll_sessions == 5 and not s.uses_dev_secrets
    assert "s" * 32 not in repr(s)  # the secret is masked


@pytest.mark.parametrize("env,words", [
    ({"BIOMETRICS_ALLOW_BELOW": "0.95", "BIOMETRICS_DENY_AT_OR_ABOVE": "0.9"}, "ALLOW_BELOW must not exceed"),
    ({"BIOMETRICS_TARGET_FAR": "0"}, "target_far"),
    ({"BIOMETRICS_DENY_AT_OR_ABOVE": "1.5"}, "deny_at_or_above"),
    ({"BIOMETRICS_API_KEYS": "{}"}, "at least one API key"),
    ({"BIOMETRICS_API_KEYS": '{"abc": "acme"}'}, "at least 6 characters"),
    ({"BIOMETRICS_API_KEYS": '{"long-enough": "bad tenant!"}'}, "tenant names"),
    ({"BIOMETRICS_USER_ID_SECRET": "short"}, "at least 16 bytes"),
    ({"BIOMETRICS_DATABASE_URL": "mysql://x"}, "sqlite:///"),
    ({"BIOMETRICS_MAX_REQUEST_BYTES": "10"}, "max_request_bytes"),
    ({"BIOMETRICS_REQUIRE_SECRETS": "true"}, "development default"),
])
def test_invalid_settings_fail_with_a_message(monkeypatch, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=words):
        Settings()


def test_the_default_database_lives_in_an_ignored_data_dir(monkeypatch, tmp_path, bundle_path):
    """A server run from the project root leaves no biometrics.db there (issue 13.13)."""
    import warnings

    from serving.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    root = Path(__file__).resolve().parents[2]
    monkeypatch.delenv("BIOMETRICS_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # stands for the project root
    settings = Settings(bundle_path=bundle_path)
    assert settings.database_url == "sqlite:///var/biometrics.db"
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
    assert (tmp_path / "var" / "biometrics.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]
    ignored = (root / ".gitignore").read_text().splitlines()
    assert "var/" in ignored and "/biometrics.db" in ignored
    assert not list(root.glob("*.whl"))  # no stray wheels committed at the root
