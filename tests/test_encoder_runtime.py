"""The ONNX graph an encoder ships with embeds as its torch module does (to 1e-5)."""

import numpy as np
import pytest
import torch

from biometrics.bundle import ModelBundle
from biometrics.scorers import ENCODERS, Encoder

pytest.importorskip("onnxruntime")

KWARGS = {"TypeNetEncoder": {}, "BiGRUAttentionEncoder": {}, "ConvTransformerEncoder": {"max_len": 64}}


def encoder(name: str, in_features: int = 13) -> Encoder:
    torch.manual_seed(0)
    kwargs = {"in_features": in_features, "hidden": 32, "embedding_dim": 16, **KWARGS[name]}
    return Encoder(name, kwargs, ENCODERS[name](**kwargs).eval(), list(range(in_features)), 50)


def sequences(rng: np.random.Generator, lengths, width: int = 13) -> list[np.ndarray]:
    return [rng.normal(size=(n, width)).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_onnx_runtime_equals_torch(name):
    enc = encoder(name)
    seqs = sequences(np.random.default_rng(0), [50, 7, 23, 7, 80, 1])  # mixed lengths, one past max_len
    expected = enc.embed(seqs)  # torch: no graph yet
    enc.graph = enc.export_graph()
    if name == "ConvTransformerEncoder":  # its attention reshapes do not export with free shapes
        assert enc.graph is None and enc.runtime() is None
    else:
        assert enc.runtime() is not None
    np.testing.assert_allclose(enc.embed(seqs), expected, atol=1e-5)


def test_bundle_carries_the_graph(tmp_path):
    from untrained import untrained_bundle

    from biometrics.calibration import Calibration

    bundle = untrained_bundle("graph", 16, 8, 64, Calibration(1.0, 0.0, 0, 0, 0, 0))
    path = tmp_path / "b.pt"
    bundle.save(path)
    loaded = ModelBundle.load(path)
    rng = np.random.default_rng(1)
    for name, scorer in loaded.scorers.items():
        if scorer.encoder is None:
            continue
        assert scorer.encoder.graph and scorer.encoder.runtime() is not None, name
        width = max(scorer.encoder.columns) + 1
        seqs = sequences(rng, [30, 12], width)
        via_graph = scorer.encoder.embed(seqs)
        scorer.encoder.graph = None  # the torch path
        np.testing.assert_allclose(via_graph, scorer.encoder.embed(seqs), atol=1e-5)
