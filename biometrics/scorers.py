"""Modality scorers: one servable object per modality, the same one for research and serving.

A :class:`ModalityScorer` is everything that turns one modality of a session into a
probability that it is not the owner's:

- its **input spec**: the modality (:mod:`biometrics.modalities`), the unit it scores
  (the whole session, each mouse action or each touch stroke), the feature configuration
  and unit options;
- an optional **encoder** (:class:`Encoder`): token sequences -> L2-normalized embeddings;
- its **inputs**: what an item's vector is made of (``embedding``, the item's classic
  ``features``, or both side by side);
- a per-user **head** (:mod:`biometrics.heads`): fitted on the enrollment vectors, it gives
  each item an anomaly score;
- the **aggregation** over a session's items (their mean) and the **calibration** of that
  aggregate into a probability; a scorer may also carry calibrations fitted on shorter
  sessions (a login page holds a few mouse actions, not a benchmark session's sixty, and
  twenty key presses, not a sentence's fifty), so a short session's evidence is weighed as
  what it is.

The bundle serializes scorers (:mod:`biometrics.bundle`); the scoring service and every
benchmark protocol call these same objects, so a figure is the served model's figure.

    vectors, n_tokens = scorer.vectors(session)  # [n_items, K], or None with too little data
    state = scorer.fit(enroll_vectors)           # at enrollment: the head's per-user state
    anomaly = scorer.anomaly(enroll_vectors, state, vectors)
    p = scorer.probability(anomaly, scorer.evidence(len(vectors), n_tokens))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from biometrics.calibration import Calibration
from biometrics.events import Session
from biometrics.heads import Head, HeadState
from biometrics.modalities import Items, ModalitySpec, modality
from biometrics.models.encoders import BiGRUAttentionEncoder, ConvTransformerEncoder, TypeNetEncoder
from biometrics.models.inputs import pad_numpy
from biometrics.profiles import check_scorer_name

#: Encoder classes a bundle may name (an allow-list: never an import path read from a file).
ENCODERS: dict[str, type[nn.Module]] = {
    c.__name__: c for c in (TypeNetEncoder, ConvTransformerEncoder, BiGRUAttentionEncoder)
}
UNITS = ("session", "action", "stroke")
INPUTS = ("embedding", "features")
AGGREGATIONS = ("mean",)


@dataclass
class Encoder:
    """A trained sequence encoder with its input contract: token columns and crop length.

    ``graph``: the module exported to ONNX (:meth:`export_graph`; bundles carry it), which
    :meth:`embed` runs with ONNX Runtime when it is installed: for one session at a time
    about 4x less CPU than torch's GRU kernels (``bench/encoder_runtime.py``), equal to them
    to 1e-5 (``tests/test_encoder_runtime.py``). Without a graph or the runtime, torch runs.
    """

    class_name: str
    kwargs: dict
    module: nn.Module
    columns: list[int]
    max_len: int
    graph: bytes | None = None
    _session: object | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def embedding_dim(self) -> int:
        """Width of the embeddings."""
        return int(self.kwargs["embedding_dim"])

    def export_graph(self) -> bytes | None:
        """The module as an ONNX graph for batches of equal-length, unpadded sequences, or None
        when the exported graph does not reproduce the module (torch then runs it)."""
        import io
        import warnings

        try:
            import onnxruntime as ort
        except ImportError:
            return None
        width = len(self.columns)
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings():  # the exporter's deprecation and tracer notes
                warnings.simplefilter("ignore")
                torch.onnx.export(self.module.eval(), _example(2, 9, width), buffer, input_names=["x", "mask"],
                                  output_names=["embedding"], opset_version=17, dynamo=False,
                                  dynamic_axes={"x": {0: "batch", 1: "steps"}, "mask": {0: "batch", 1: "steps"}})
            quiet = ort.SessionOptions()
            quiet.log_severity_level = 4  # a graph that fails its check is not an error: torch runs it
            check = ort.InferenceSession(buffer.getvalue(), quiet, providers=["CPUExecutionProvider"])
            for shape in ((1, 5), (3, 17)):
                x, mask = _example(*shape, width)
                with torch.no_grad():
                    expected = self.module(x, mask).numpy()
                got = check.run(None, {"x": x.numpy(), "mask": mask.numpy()})[0]
                if not np.allclose(got, expected, atol=1e-5):
                    return None
        except Exception:  # noqa: BLE001 - any exporter or runtime failure: torch serves this encoder
            return None
        return buffer.getvalue()

    def runtime(self):
        """The ONNX Runtime session of :attr:`graph` (made once), or None to run torch."""
        if self.graph is None:
            return None
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                return None
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(self.graph, options, providers=["CPUExecutionProvider"])
        return self._session

    @torch.no_grad()
    def embed(self, tokens: list[np.ndarray], batch_size: int = 512) -> np.ndarray:
        """Embeddings ``[N, D]`` of full-width token sequences (columns are selected here)."""
        if not tokens:
            return np.zeros((0, self.embedding_dim), np.float32)
        session = self.runtime()
        if session is not None:
            return self._embed_onnx(session, [t[: self.max_len, self.columns] for t in tokens])
        x, mask = pad_numpy([t[:, self.columns] for t in tokens], self.max_len)
        longest = max(1, int(mask.sum(1).max()))
        x, mask = x[:, :longest], mask[:, :longest]  # padding beyond the longest sequence is dead weight
        out = [self.module(torch.from_numpy(x[i:i + batch_size]), torch.from_numpy(mask[i:i + batch_size]))
               for i in range(0, len(tokens), batch_size)]
        return torch.cat(out).numpy()

    def _embed_onnx(self, session, seqs: list[np.ndarray]) -> np.ndarray:
        """One graph run per distinct length (no padding: the graph takes none)."""
        out = np.empty((len(seqs), self.embedding_dim), np.float32)
        lengths = np.array([len(s) for s in seqs])
        for n in np.unique(lengths):
            idx = np.flatnonzero(lengths == n)
            if n == 0:  # an empty sequence: as the torch path embeds an all-padding one
                out[idx] = self.embed_padded(np.zeros((idx.size, 1, len(self.columns)), np.float32),
                                             np.zeros((idx.size, 1), bool))
                continue
            x = np.stack([seqs[i] for i in idx]).astype(np.float32, copy=False)
            out[idx] = session.run(None, {"x": x, "mask": np.ones(x.shape[:2], bool)})[0]
        return out

    @torch.no_grad()
    def embed_padded(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Torch embeddings of an already padded batch ``x [N, T, F]`` with ``mask [N, T]``."""
        return self.module(torch.from_numpy(x), torch.from_numpy(mask)).numpy()


def _example(batch: int, steps: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded full-length example batch for exporting and checking a graph."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, steps, width, generator=g), torch.ones(batch, steps, dtype=torch.bool)


@dataclass
class ModalityScorer:
    """One modality's servable scorer (see the module docstring).

    ``name`` keys the scorer in a bundle and the user's profile (``modality`` unless a
    variant, e.g. a phone model of keystrokes, is served beside it). ``max_enroll_vectors``
    bounds the enrollment vectors a profile keeps (one per session for session units, one
    per item otherwise). ``licence``: the terms of the data the scorer was trained on,
    when they restrict who may ship it. ``devices``: the ``meta.device_type`` values the
    scorer is for (empty: any device); a session is scored by the scorer made for its device
    when the bundle has one, else by the modality's scorer for any device
    (:meth:`biometrics.bundle.ModelBundle.scorers_for`).
    """

    name: str
    modality: str
    unit: str
    feature_config: dict
    head: Head
    calibration: Calibration
    encoder: Encoder | None = None
    inputs: tuple[str, ...] = ("embedding",)
    unit_options: dict = field(default_factory=dict)
    aggregation: str = "mean"
    max_enroll_vectors: int = 20
    metrics: dict = field(default_factory=dict)
    licence: str | None = None
    devices: tuple[str, ...] = ()
    #: Calibrations fitted on shorter held-out sessions, keyed by their evidence count
    #: (:meth:`evidence`), ascending; :meth:`calibration_for` picks a session's.
    item_calibrations: tuple[tuple[int, Calibration], ...] = ()
    #: The scorer (by name) whose probability this one's replaces in a session's fused risk when
    #: both score it: a password field's position-by-position timing says more than, and
    #: the same thing as, the whole session's embedding of those presses; adding both would count it twice.
    replaces: str | None = None

    def __post_init__(self) -> None:
        check_scorer_name(self.name)
        spec = modality(self.modality)
        if self.unit not in spec.units:
            raise ValueError(f"{self.name}: {self.modality} has no unit {self.unit!r}; "
                             f"expected one of {sorted(spec.units)}")
        if not self.inputs or any(i not in INPUTS for i in self.inputs):
            raise ValueError(f"{self.name}: inputs must be a non-empty subset of {INPUTS}, got {self.inputs}")
        if "embedding" in self.inputs and self.encoder is None:
            raise ValueError(f"{self.name}: an 'embedding' input needs an encoder")
        if "features" in self.inputs and not spec.item_features[self.unit]:
            raise ValueError(f"{self.name}: {self.modality} {self.unit}s have no item features")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"{self.name}: aggregation must be one of {AGGREGATIONS}")
        if self.max_enroll_vectors < 1:
            raise ValueError(f"{self.name}: max_enroll_vectors must be at least 1")
        counts = [n for n, _ in self.item_calibrations]
        if counts != sorted(set(counts)) or any(n < 1 for n in counts):
            raise ValueError(f"{self.name}: item_calibrations must be keyed by distinct item counts >= 1, ascending")

    @property
    def spec(self) -> ModalitySpec:
        """The modality's registered facts."""
        return modality(self.modality)

    def items(self, session: Session) -> Items:
        """The session's items of this scorer's unit."""
        return self.spec.items(session, self.unit, self.feature_config, self.unit_options)

    def item_vectors(self, items: Items) -> np.ndarray:
        """``[n_items, K]`` float32 vectors of items: the inputs side by side."""
        parts = []
        if "embedding" in self.inputs:
            parts.append(self.encoder.embed(items.tokens))
        if "features" in self.inputs:
            parts.append(items.features)
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)

    def usable_items(self, session: Session) -> tuple[Items | None, int]:
        """The session's items (None with too little data to score) and its token count."""
        if not self.spec.present(session):
            return None, 0
        items = self.items(session)
        if items.n_tokens < self.spec.min_tokens or len(items) == 0:
            return None, items.n_tokens
        return items, items.n_tokens

    def vectors(self, session: Session) -> tuple[np.ndarray | None, int]:
        """The session's item vectors (None with too little data to score) and its token count."""
        items, n = self.usable_items(session)
        return (None, n) if items is None else (self.item_vectors(items), n)

    def fit(self, enroll: np.ndarray) -> HeadState:
        """The head's per-user state from ``[n, K]`` enrollment vectors (empty: too few to fit yet)."""
        if len(enroll) < self.head.min_items:
            return {}
        return self.head.fit(np.asarray(enroll, np.float32))

    def can_score(self, enroll: np.ndarray | None) -> bool:
        """Whether a profile with these enrollment vectors has a fitted head to score against."""
        return enroll is not None and len(enroll) >= max(1, self.head.min_items)

    def item_anomalies(self, enroll: np.ndarray, state: HeadState, vectors: np.ndarray) -> np.ndarray:
        """Per-item anomaly scores of ``vectors`` for the user of ``enroll`` and ``state``."""
        return self.head.score({**state, "enroll": enroll}, vectors)

    def anomaly(self, enroll: np.ndarray, state: HeadState, vectors: np.ndarray) -> float:
        """The session's anomaly: the aggregate of its items' scores (``nan`` when the head can
        score none of them against this profile, e.g. a password of another length)."""
        scores = self.item_anomalies(enroll, state, vectors)
        scores = scores[np.isfinite(scores)]
        return float(np.mean(scores)) if scores.size else float("nan")

    def evidence(self, n_items: int, n_tokens: int) -> int:
        """How much a session holds for this scorer, the count ``item_calibrations`` are keyed
        by: its items (mouse actions, touch strokes), or for a session or password unit its
        tokens (the presses of a keystroke session or of its password field)."""
        return n_tokens if self.unit in ("session", "password") else n_items

    def calibration_items(self, n_items: int | None) -> int | None:
        """The evidence count (:meth:`evidence`) of the calibration a session of ``n_items``
        gets: of ``item_calibrations``, the most not above ``n_items`` (the fewest when
        ``n_items`` is below them all); None (the headline ``calibration``, fitted on the
        longest sessions) when there are none, when ``n_items`` is None or past them all."""
        counts = [n for n, _ in self.item_calibrations]
        if n_items is None or not counts or n_items > counts[-1]:
            return None
        return max([n for n in counts if n <= n_items], default=counts[0])

    def calibration_for(self, n_items: int | None) -> Calibration:
        """The calibration of a session of ``n_items`` items (:meth:`calibration_items`)."""
        n = self.calibration_items(n_items)
        return self.calibration if n is None else dict(self.item_calibrations)[n]

    def probability(self, anomaly: float | np.ndarray, n_items: int | None = None) -> np.ndarray:
        """Calibrated P(not the owner) of the anomaly of a session of ``n_items`` evidence
        (:meth:`evidence`; None: of a session as long as the headline calibration's)."""
        return self.calibration_for(n_items).probability(anomaly)
