"""The browser collector (collector/, JavaScript) against the session contract v2.

Runs ``node``: its key table must equal :func:`biometrics.events.key_class_table`, and a
session it builds over fake events must validate as a :class:`biometrics.events.Session`.
Skips with a message where ``node`` is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from biometrics.events import KeyClass, Session, key_class_table

COLLECTOR = Path(__file__).resolve().parents[1] / "collector"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the JavaScript collector is not checked"
)


def _node(*args: str) -> str:
    proc = subprocess.run(
        [NODE, *args], check=False, cwd=COLLECTOR, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, f"node failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout


def test_keymap_equals_python_table() -> None:
    keymap = (COLLECTOR / "src" / "keymap.js").as_uri()
    out = _node(
        "--input-type=module",
        "-e",
        f"import {{ KEY_CLASS, KEY_CLASS_TABLE }} from {json.dumps(keymap)};"
        "console.log(JSON.stringify({ classes: KEY_CLASS, table: KEY_CLASS_TABLE }));",
    )
    got = json.loads(out)
    assert got["table"] == key_class_table()
    assert got["classes"] == {k.name: int(k) for k in KeyClass}


@pytest.mark.parametrize("build", ["src/collector.js", "dist/collector.mjs"])
def test_collector_session_validates(build: str) -> None:
    out = _node("testing/sample_session.js", build)
    session = Session.model_validate_json(out)
    assert session.schema_version == 2
    assert session.session_id is not None
    assert session.modalities() == ["keystrokes", "pointer", "touch"]
    kinds = [int(e.key_class) for e in session.keystrokes]
    # 10 username keys (letters, a digit, a separator, an unknown code, shift), then the
    # 7 keys of the password field, all masked; no key event carries more than its class.
    assert kinds[:20] == [0] * 10 + [1, 1, 2, 2, 6, 6, 4, 0, 0, 4]
    assert kinds[20:] == [int(KeyClass.MASKED)] * 14
    assert set(json.loads(out)["keystrokes"][0]) == {"t", "type", "press", "key_class"}
    assert session.signals.paste == 1 and session.signals.autofill == 1
    assert session.meta.device_type == "desktop"
    assert {e.pointer_id for e in session.touch} == {0, 1}
    assert session.keystroke_arrays().t.size == len(session.keystrokes)
    presses = [e.press for e in session.keystrokes if e.type == "down"]
    assert presses == list(range(len(presses)))
