"""Model bundle: the modality scorers that serving runs, loadable without Hydra or training code.

One ``.pt`` file of tensors and plain values, loaded with ``torch.load(weights_only=True)``
(no pickled code). Per scorer (:class:`biometrics.scorers.ModalityScorer`): the modality,
unit and feature configuration; the encoder's class name (from an allow-list, never an
import path taken from the file), constructor arguments, weights, token columns and crop
length; the head's kind (from an allow-list) and payload; the aggregation, calibration,
metrics and the training data's licence; optionally a drift ``reference`` (plain lists,
:mod:`biometrics.drift`).

Format 4 holds scorers, each encoder's ONNX graph without a second copy of its weights (format
3: with it, read the same way); a format-2 file (one distance-scored session encoder per
modality) is read as the equivalent scorers. Anything else fails to load with a
:class:`BundleError` that says what to do.
"""

from __future__ import annotations

import gzip
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from biometrics.calibration import calibration_from_payload, calibration_payload
from biometrics.events import SCHEMA_VERSION
from biometrics.heads import Head
from biometrics.heads.boosted import BoostedTreesHead
from biometrics.heads.distance import DistanceHead
from biometrics.heads.fixed_text import FixedTextHead
from biometrics.heads.kernel import RBFSVMHead
from biometrics.modalities import MODALITIES
from biometrics.models.graph_weights import fill_graph, strip_graph
from biometrics.scorers import ENCODERS, Encoder, ModalityScorer

#: Format 3: modality scorers (unit, encoder, head, calibration) on session contract v2.
#: Format 4: the same, each encoder's ONNX graph stored without the weights its torch module
#: holds (:mod:`biometrics.models.graph_weights`), so a release that reads only format 3 refuses
#: it instead of running an empty graph.
BUNDLE_FORMAT = 4
READABLE_FORMATS = (2, 3, 4)
#: Head kinds a bundle may name.
HEADS: dict[str, type[Head]] = {c.kind: c for c in (DistanceHead, BoostedTreesHead, RBFSVMHead, FixedTextHead)}
_REBUILD = ("re-export it from its run with `python -m training.export` (retrain first if it saw "
            "hashed key buckets), build the default bundle with `python -m training.default_bundle`, "
            "or the test bundle with `python -m training.sample_bundle`")


_GZIP_MAGIC = b"\x1f\x8b"


class BundleError(ValueError):
    """A bundle file that this release cannot serve, with what to do about it."""


@dataclass
class ModelBundle:
    """The modality scorers of one model version."""

    model_version: str
    scorers: dict[str, ModalityScorer]
    created_at: float = field(default_factory=time.time)
    #: Optional drift references by scorer name (plain values; :class:`biometrics.drift.ScorerReference`
    #: payloads: per-session feature quantiles and category shares of reference sessions). Saved in
    #: each scorer's payload under ``reference``; a bundle written without them loads with none.
    references: dict[str, dict] = field(default_factory=dict)

    def scorers_for(self, device_type: str) -> dict[str, ModalityScorer]:
        """The scorer of each modality and unit for a device: the one made for it, else the one
        for any device."""
        chosen: dict[tuple[str, str], ModalityScorer] = {}
        for s in self.scorers.values():
            if s.devices and device_type not in s.devices:
                continue
            current = chosen.get((s.modality, s.unit))
            if current is None or (s.devices and not current.devices):
                chosen[s.modality, s.unit] = s
        return {s.name: s for s in chosen.values()}

    def save(self, path: str | Path, compress: bool = False) -> None:
        """Write the bundle as one ``.pt`` file of tensors and plain values (gzipped with ``compress``:
        lossless, read back by :meth:`load` the same way)."""
        payload = {"format": BUNDLE_FORMAT, "session_schema": SCHEMA_VERSION, "model_version": self.model_version,
                   "created_at": self.created_at,
                   "scorers": {name: _scorer_payload(s) for name, s in self.scorers.items()}}
        for name, reference in self.references.items():
            if name in payload["scorers"]:
                payload["scorers"][name]["reference"] = reference
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not compress:
            torch.save(payload, path)
            return
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        Path(path).write_bytes(gzip.compress(buffer.getvalue(), mtime=0))

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """Read a bundle written by :meth:`save`; :class:`BundleError` when it cannot be served."""
        try:
            raw = Path(path).read_bytes()
            if raw[:2] == _GZIP_MAGIC:
                raw = gzip.decompress(raw)
            payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:
            raise BundleError(f"{path}: not a model bundle ({type(err).__name__}); {_REBUILD}") from err
        fmt = payload.get("format") if isinstance(payload, dict) else None
        if fmt not in READABLE_FORMATS or payload.get("session_schema") != SCHEMA_VERSION:
            raise BundleError(
                f"{path}: bundle format {fmt} (session contract v{payload.get('session_schema', 1) if fmt else '?'}) "
                f"is not one of formats {READABLE_FORMATS} for contract v{SCHEMA_VERSION}; {_REBUILD}")
        raw = payload["scorers"] if fmt >= 3 else {n: _format2_scorer(n, m) for n, m in payload["modalities"].items()}
        scorers = {name: _scorer_from_payload(path, name, p) for name, p in raw.items()}
        for s in scorers.values():
            if s.replaces is not None and s.replaces not in scorers:
                raise BundleError(f"{path}: scorer {s.name!r} replaces {s.replaces!r}, which the bundle does "
                                  f"not hold; {_REBUILD}")
        if not scorers:
            raise BundleError(f"{path}: the bundle holds no scorer; {_REBUILD}")
        references = {name: p["reference"] for name, p in raw.items() if isinstance(p.get("reference"), dict)}
        return cls(payload["model_version"], scorers, payload.get("created_at", 0.0), references)


def _scorer_payload(s: ModalityScorer) -> dict:
    enc = s.encoder
    return {"modality": s.modality, "unit": s.unit, "feature_config": s.feature_config,
            "unit_options": s.unit_options, "inputs": list(s.inputs), "aggregation": s.aggregation,
            "max_enroll_vectors": s.max_enroll_vectors, "head": _tensors(s.head.payload()),
            "calibration": calibration_payload(s.calibration), "metrics": s.metrics, "licence": s.licence,
            "devices": list(s.devices),
            "item_calibrations": [[n, calibration_payload(c)] for n, c in s.item_calibrations],
            "replaces": s.replaces,
            "encoder": None if enc is None else {
                "class": enc.class_name, "kwargs": enc.kwargs, "state_dict": enc.module.state_dict(),
                "columns": list(enc.columns), "max_len": int(enc.max_len), **_graph_payload(enc)}}


def _graph_payload(enc: Encoder) -> dict:
    """The encoder's ONNX graph (exported now if it has none) without the weights its module
    holds, as bytes in a uint8 tensor (which the safe loader reads), and the recipe that
    restores them; a None graph when the module does not export faithfully (torch runs it)."""
    if enc.graph is None:
        enc.graph = enc.export_graph()
    if enc.graph is None:
        return {"graph": None}
    stripped, recipe = strip_graph(enc.graph, enc.module)
    return {"graph": torch.frombuffer(bytearray(stripped), dtype=torch.uint8), "graph_weights": recipe}


def _format2_scorer(name: str, m: dict) -> dict:
    """A format-2 modality (session encoder, mean distance) as a format-3 scorer payload."""
    return {"modality": name, "unit": "session", "feature_config": m["feature_config"], "unit_options": {},
            "inputs": ["embedding"], "aggregation": "mean", "max_enroll_vectors": 20,
            "head": {"kind": "distance", "normalize": "none"}, "calibration": m["calibration"],
            "metrics": m.get("metrics", {}), "licence": None,
            "encoder": {"class": m["encoder_class"], "kwargs": m["encoder_kwargs"], "state_dict": m["state_dict"],
                        "columns": m["columns"], "max_len": m["max_len"]}}


def _scorer_from_payload(path: str | Path, name: str, p: dict) -> ModalityScorer:
    where = f"{path}: scorer {name!r}"
    if p.get("modality") not in MODALITIES:
        raise BundleError(f"{where} is for an unknown modality {p.get('modality')!r} "
                          f"(this release serves {', '.join(MODALITIES)}); {_REBUILD}")
    kind = p.get("head", {}).get("kind")
    if kind not in HEADS:
        raise BundleError(f"{where} has an unknown head {kind!r} (this release runs {', '.join(HEADS)}); "
                          f"upgrade the service or {_REBUILD}")
    encoder = None
    if p.get("encoder") is not None:
        e = p["encoder"]
        if e["class"] not in ENCODERS:
            raise BundleError(f"{where} names an unknown encoder {e['class']!r}; {_REBUILD}")
        module = ENCODERS[e["class"]](**e["kwargs"])
        module.load_state_dict(e["state_dict"])
        graph = e.get("graph")  # absent in bundles written before graphs were carried: torch runs
        if graph is not None:
            graph = graph.numpy().tobytes()
            if e.get("graph_weights"):  # format 4: the weights come from the module
                try:
                    graph = fill_graph(graph, e["graph_weights"], module)
                except Exception as err:
                    raise BundleError(f"{where}: its encoder graph cannot be restored ({err}); {_REBUILD}") from err
        encoder = Encoder(e["class"], e["kwargs"], module.eval(), list(e["columns"]), int(e["max_len"]), graph)
    try:
        return ModalityScorer(
            name, p["modality"], p["unit"], p["feature_config"], HEADS[kind].from_payload(_arrays(p["head"])),
            calibration_from_payload(p["calibration"]), encoder, tuple(p["inputs"]), p.get("unit_options", {}),
            p.get("aggregation", "mean"), int(p.get("max_enroll_vectors", 20)), p.get("metrics", {}),
            p.get("licence"), tuple(p.get("devices", ())),
            tuple((int(n), calibration_from_payload(c)) for n, c in p.get("item_calibrations", ())),
            p.get("replaces"))
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(f"{where} cannot be served: {err}; {_REBUILD}") from err


def _tensors(payload: dict) -> dict:
    """A head payload with numpy arrays as tensors (the safe loader reads tensors, not arrays)."""
    return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
            for k, v in payload.items()}


def _arrays(payload: dict) -> dict:
    """A stored head payload with tensors as numpy arrays (what heads are built from)."""
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in payload.items()}
