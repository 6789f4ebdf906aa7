"""Small vectorized helpers shared by the feature modules (private)."""

from __future__ import annotations

import numpy as np


def signed_log(x: np.ndarray, scale: float, clip: float) -> np.ndarray:
    """``sign(x) * log1p(min(|x|, clip) / scale)``, so within ``+-log1p(clip / scale)``."""
    out = np.abs(x)
    np.minimum(out, clip, out=out)
    out *= 1.0 / scale
    np.log1p(out, out=out)
    return np.copysign(out, x, out=out)


def pos_log(x: np.ndarray, scale: float, clip: float) -> np.ndarray:
    """``log1p(clip(x, 0, clip) / scale)`` for non-negative quantities (durations, speeds)."""
    out = np.clip(x, 0.0, clip)
    out *= 1.0 / scale
    return np.log1p(out, out=out)


def check_session(session: np.ndarray | None, n: int) -> np.ndarray | None:
    """Validate a per-event session-id array (1-D, length ``n``, integer) and return it."""
    if session is None:
        return None
    s = np.asarray(session)
    if s.ndim != 1 or s.shape[0] != n:
        raise ValueError(
            f"session ids must be a 1-D array with one id per event ({n}), got shape {s.shape}"
        )
    if not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"session ids must be integers, got dtype {s.dtype}")
    return s


def session_starts(session: np.ndarray | None, n: int) -> np.ndarray:
    """Boolean ``[n]``: True on the first event of every session (index 0 always, when n > 0)."""
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        if session is not None:
            np.not_equal(session[1:], session[:-1], out=start[1:])
    return start


def check_lengths(name: str, **cols: np.ndarray) -> int:
    """Check that all columns of an event-array object are 1-D with one length; return it."""
    n = None
    for key, col in cols.items():
        if col.ndim != 1:
            raise ValueError(f"{name}.{key} must be 1-D, got shape {col.shape}")
        if n is None:
            n = col.shape[0]
        elif col.shape[0] != n:
            raise ValueError(
                f"{name}.{key} has {col.shape[0]} entries, expected {n} like the other columns"
            )
    return int(n or 0)


def check_codes(name: str, codes: np.ndarray, n_codes: int) -> None:
    """Raise if an integer code column holds values outside ``[0, n_codes)``."""
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= n_codes):
        raise ValueError(
            f"{name} codes must lie in [0, {n_codes}), got [{int(codes.min())}, {int(codes.max())}]"
        )


def first_of_run(flags_new: np.ndarray) -> np.ndarray:
    """For each position, the index of the latest True in ``flags_new`` at or before it."""
    idx = np.where(flags_new, np.arange(flags_new.shape[0]), 0)
    return np.maximum.accumulate(idx)


def group_quantiles(
    values: np.ndarray, group: np.ndarray, n_groups: int, qs: tuple[float, ...]
) -> np.ndarray:
    """Per-group quantiles (numpy's linear method) ``[n_groups, len(qs)]``; empty groups give 0.

    ``group`` holds ids in ``[0, n_groups)``; values need not be sorted.
    """
    out = np.zeros((n_groups, len(qs)), dtype=np.float64)
    if values.size == 0 or n_groups == 0:
        return out
    order = np.lexsort((values, group))
    v = values[order]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.zeros(n_groups, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    has = counts > 0
    last = np.maximum(counts - 1, 0).astype(np.float64)
    for j, q in enumerate(qs):
        pos = q * last
        lo = np.floor(pos)
        frac = pos - lo
        i_lo = starts + lo.astype(np.int64)
        i_hi = np.minimum(i_lo + 1, starts + counts - 1)
        i_lo = np.where(has, i_lo, 0)
        i_hi = np.where(has, i_hi, 0)
        out[:, j] = np.where(has, v[i_lo] + frac * (v[i_hi] - v[i_lo]), 0.0)
    return out


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den != 0``, else 0 (never inf or NaN for finite inputs)."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out
