"""serving/monitoring/alerts.yml: every metric an alert's expression names is one the app
exposes (read from its /metrics), and promtool accepts the file and its unit tests (skipped
where promtool is missing; .ci/run installs it and runs the same checks)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

RULES = Path(__file__).resolve().parents[2] / "serving" / "monitoring" / "alerts.yml"
RULE_TESTS = RULES.with_name("alerts_test.yml")

# Samples each metric type exposes, besides the family name.
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
             "summary": ("_count", "_sum", "_created"), "gauge": ("",)}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
             "offset", "bool", "atan2", "inf", "nan"}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    keywords, label names (inside braces or grouping clauses), strings or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)  # ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+\w+", " ", expr)
    names = set()
    for m in _IDENT.finditer(expr):
        name, rest = m.group(), expr[m.end():].lstrip()
        if name in _KEYWORDS or rest.startswith("(") or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        if m.start() > 0 and (expr[m.start() - 1].isdigit() or expr[m.start() - 1] == "."):
            continue  # part of a number such as 1e5
        names.add(name)
    return names


def exposed_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {family.name + s for s in _SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_metric_name_extraction():
    expr = ('sum by (tenant, le) (rate(a_total{reason="x y", route=~"/v1/.*"}[15m] offset 1d)) / '
            "b_count > 2 * c + 1e-3 and on (tenant) histogram_quantile(0.99, d_bucket)")
    assert metric_names(expr) == {"a_total", "b_count", "c", "d_bucket"}


def test_every_metric_an_alert_uses_is_exposed_by_the_app(api):
    exposed = exposed_names(api.client.get("/metrics").text)
    assert "biometrics_decisions_total" in exposed and "biometrics_http_request_duration_seconds_bucket" in exposed
    rules = _rules()
    assert len(rules) >= 8
    used: set[str] = set()
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule.get("alert")
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exposed, (rule["alert"], sorted(names - exposed))
        used |= names
    # What the brief asks to alert on is covered.
    alerts = {r["alert"] for r in rules}
    assert {"BiometricsHighServerErrorRate", "BiometricsScoreLatencyP99High", "BiometricsDenyRateRise",
            "BiometricsChallengeRateRise", "BiometricsBotLikeTimingRise", "BiometricsReplayedSessionRise",
            "BiometricsTooLittleDataHigh"} <= alerts
    reasons = set(re.findall(r'reason="(\w+)"', RULES.read_text()))
    assert reasons == {"bot_like_timing", "replayed_session", "too_little_data"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (apt-get install prometheus)")
def test_promtool_accepts_the_rules_and_their_unit_tests():
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], check=False, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(["promtool", "test", "rules", str(RULE_TESTS)], check=False, capture_output=True,
                          text=True, timeout=120)
    assert unit.returncode == 0, unit.stdout + unit.stderr
