"""Labelled sessions: the file format customers and the retraining command exchange.

One record per session in the session contract (:class:`biometrics.events.Session`) with the
account it enrolls into or is scored against and who produced it. Read from JSON lines
(``sample_data/sessions.jsonl`` is such a file) or Parquet. Used by the served evaluation
(``serving.evaluation``, ``python -m training.evaluate_bundle``) and by training on such a
file (``biometrics.data.sessions_module``, ``python -m training.retrain``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biometrics.events import Session

#: Labels of a test session: ``genuine`` and ``impostor`` make the verification figures;
#: ``bot`` and ``replay`` (scripted or replayed sessions, as ``sample_data/`` has) are
#: reported apart, as attacks the guards should catch.
LABELS = ("genuine", "impostor", "bot", "replay")


class InputError(ValueError):
    """A labelled-sessions file (or its content) that cannot be evaluated; the message is one
    line that names the file, the line or row, and what is wrong."""


class LabelledRecord(BaseModel):
    """One line of a labelled-sessions file.

    ``user_id`` is the account: an ``enroll`` session enrolls it, a ``test`` session is scored
    against it. ``label`` says who produced the session: ``genuine`` (the account's owner),
    ``impostor`` (someone else, claiming the account), ``bot`` or ``replay``. Enrollment
    sessions are genuine. ``session`` is a session-contract v2 object
    (:class:`biometrics.events.Session`). The other fields are those ``sample_data/`` carries
    (optional; ``attacker_id`` and ``replay_of`` are kept for the reader, not used).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1)
    split: Literal["enroll", "test"]
    label: Literal["genuine", "impostor", "bot", "replay"]
    session: Session
    session_id: str | None = None
    device: str | None = None
    attacker_id: str | None = None
    replay_of: str | None = None
    password_presses: int | None = None


def _problem(err: ValidationError) -> str:
    """The first problem of a validation error, on one line: ``field.path: message``."""
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "literal_error" and e["loc"] == ("label",):
        msg = f"unknown label {e.get('input')!r}; expected one of {', '.join(LABELS)}"
    elif e["type"] == "extra_forbidden":
        msg = f"unknown field; the fields are {', '.join(LabelledRecord.model_fields)}"
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{loc}: {msg}{more}".replace("\n", " ")


def _record(text: str | bytes, where: str) -> LabelledRecord:
    try:
        return LabelledRecord.model_validate_json(text)
    except ValidationError as err:
        if err.errors()[0]["type"] == "json_invalid":
            raise InputError(f"{where}: not valid JSON ({err.errors()[0]['msg']})") from None
        raise InputError(f"{where}: {_problem(err)}") from None


def read_labelled_sessions(path: str | Path) -> list[LabelledRecord]:
    """Read labelled sessions (:class:`LabelledRecord`) from a file; raises :class:`InputError`.

    * JSON lines (any name but ``*.parquet``; a folder means its ``sessions.jsonl``): one
      object per line, ``{"user_id", "split", "label", "session"}`` plus the optional fields;
      blank lines are skipped. ``sample_data/sessions.jsonl`` is such a file.
    * Parquet (``*.parquet``, needs ``pyarrow``): one row per session, a column per field, the
      ``session`` column a JSON string (or a struct) of the session contract.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "sessions.jsonl"
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    out = _read_parquet(p) if p.suffix == ".parquet" else _read_jsonl(p)
    if not out:
        raise InputError(f"{p}: no labelled sessions in the file")
    return out


def _read_jsonl(p: Path) -> list[LabelledRecord]:
    out = []
    with p.open("rb") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                out.append(_record(line, f"{p}, line {n}"))
    return out


def _read_parquet(p: Path) -> list[LabelledRecord]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{p}: reading Parquet needs pyarrow (pip install pyarrow), "
                         "or write the sessions as JSON lines") from None
    try:
        rows = pq.read_table(p).to_pylist()
    except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise InputError(f"{p}: not a readable Parquet file ({type(err).__name__}: {err})".replace("\n", " ")) \
            from None
    out = []
    for n, row in enumerate(rows, 1):
        row = {k: v for k, v in row.items() if v is not None}  # a missing optional field is null
        session = row.get("session")
        if isinstance(session, str):
            try:
                row["session"] = json.loads(session)
            except ValueError as err:
                raise InputError(f"{p}, row {n}: session: not valid JSON ({err})") from None
        out.append(_record(json.dumps(row), f"{p}, row {n}"))
    return out
