"""Evaluation reports: a metrics JSON and DET / score-distribution plots in a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from biometrics.metrics import det_curve


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items() if not isinstance(v, tuple)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def write_json(path: str | Path, report: dict) -> None:
    """Write a report dict as indented JSON (numpy values converted, raw score arrays dropped)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(_jsonable(report), indent=2) + "\n")


def _axes(figsize: tuple[float, float]):
    """A new figure and axes on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def _save(fig, ax, path: str | Path, xlabel: str, ylabel: str, title: str) -> None:
    """Label, grid, legend, write the PNG and free the figure."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_det(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "") -> None:
    """DET curves (FRR vs FAR, probit axes) for named ``(genuine, impostor)`` score sets."""
    from scipy.stats import norm

    fig, ax = _axes((5, 5))
    eps = 1e-4
    for name, (gen, imp) in curves.items():
        far, frr, _ = det_curve(gen, imp)
        ax.plot(norm.ppf(np.clip(far, eps, 1 - eps)), norm.ppf(np.clip(frr, eps, 1 - eps)), label=name)
    ticks = np.array([0.001, 0.01, 0.05, 0.2, 0.5])
    lim = norm.ppf([0.0005, 0.6])
    ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    _save(fig, ax, path, "false accept rate", "false reject rate", title)


def plot_score_histogram(genuine: np.ndarray, impostor: np.ndarray, path: str | Path,
                         title: str = "") -> None:
    """Overlaid histograms of genuine and impostor scores."""
    fig, ax = _axes((6, 4))
    bins = np.linspace(min(genuine.min(), impostor.min()), max(genuine.max(), impostor.max()), 60)
    ax.hist(genuine, bins=bins, alpha=0.6, density=True, label="genuine")
    ax.hist(impostor, bins=bins, alpha=0.6, density=True, label="impostor")
    _save(fig, ax, path, "distance to enrollment (higher = less like the owner)", "density", title)


def plot_amount_curve(curves: dict[str, dict[str, float]], path: str | Path, xlabel: str,
                      ylabel: str = "EER", title: str = "") -> None:
    """A metric against how much behavior was seen (``{name: {amount: value}}``; ``"all"`` last)."""
    fig, ax = _axes((6, 4))
    for name, by_amount in curves.items():
        keys = list(by_amount)
        ax.plot(range(len(keys)), [by_amount[k] for k in keys], marker="o", label=name)
        ax.set_xticks(range(len(keys)), keys)
    _save(fig, ax, path, xlabel, ylabel, title)


def rerun_command(script: str, argv: list[str] | None = None) -> str:
    """The command line that reproduces a bench script's run (``argv`` or ``sys.argv[1:]``)."""
    import sys

    return f"python {script}" + (" " + " ".join(argv or sys.argv[1:])).rstrip()


def publish_result(result: dict, path: str | Path) -> None:
    """Write a bench result as JSON to ``path`` and print it as one line."""
    write_json(path, result)
    print(json.dumps(_jsonable(result)))
