"""Encoder graphs stored without a second copy of their weights (bundle format 4)."""

import io

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from untrained import untrained_bundle

from biometrics.bundle import BundleError, ModelBundle
from biometrics.calibration import Calibration
from biometrics.models.encoders import BiGRUAttentionEncoder, TypeNetEncoder
from biometrics.models.graph_weights import fill_graph, strip_graph
from biometrics.scorers import Encoder


def _initializers(graph: bytes) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(graph).graph.initializer}


@pytest.mark.parametrize("cls, kw", [
    (BiGRUAttentionEncoder, {"in_features": 5, "hidden": 8, "num_layers": 2, "dropout": 0.0, "embedding_dim": 6}),
    (TypeNetEncoder, {"in_features": 5, "hidden": 8, "num_layers": 2, "dropout": 0.0, "embedding_dim": 6}),
])
def test_a_stripped_graph_is_refilled_from_the_module_exactly(cls, kw):
    torch.manual_seed(0)
    module = cls(**kw).eval()
    graph = Encoder(cls.__name__, kw, module, list(range(5)), 32).export_graph()
    assert graph is not None
    stripped, recipe = strip_graph(graph, module)
    assert set(recipe) == set(_initializers(graph)) and len(stripped) < len(graph)  # every weight found
    assert any(key.startswith("rnn:") for key in recipe.values())
    original, filled = _initializers(graph), _initializers(fill_graph(stripped, recipe, module))
    assert original.keys() == filled.keys()
    assert all(np.array_equal(original[k], filled[k]) for k in original)


def test_a_recipe_the_module_cannot_give_is_refused():
    torch.manual_seed(0)
    kw = {"in_features": 5, "hidden": 8, "num_layers": 1, "dropout": 0.0, "embedding_dim": 6}
    module = BiGRUAttentionEncoder(**kw).eval()
    graph = Encoder("BiGRUAttentionEncoder", kw, module, list(range(5)), 32).export_graph()
    stripped, recipe = strip_graph(graph, module)
    wider = BiGRUAttentionEncoder(**{**kw, "hidden": 12}).eval()
    with pytest.raises(ValueError, match="the module has no"):
        fill_graph(stripped, recipe, wider)


def test_a_bundle_keeps_each_encoder_once_and_serves_the_same_embeddings(tmp_path):
    bundle = untrained_bundle("v", 16, 8, 64, Calibration(1.0, 0.0, 0, 0, 0, 0))
    bundle.save(tmp_path / "b.pt")
    payload = torch.load(tmp_path / "b.pt", weights_only=True)
    assert payload["format"] == 4
    loaded = ModelBundle.load(tmp_path / "b.pt")
    rng = np.random.default_rng(0)
    for name, scorer in bundle.scorers.items():
        stored = payload["scorers"][name]["encoder"]
        assert stored["graph_weights"] and stored["graph"].numel() < len(scorer.encoder.graph) / 2
        width = len(scorer.spec.token_features["session"])
        tokens = [rng.normal(size=(n, width)).astype(np.float32) for n in (3, 9, 9)]
        np.testing.assert_array_equal(loaded.scorers[name].encoder.embed(tokens), scorer.encoder.embed(tokens))


def test_a_format_3_bundle_with_whole_graphs_still_loads(tmp_path):
    bundle = untrained_bundle("v", 16, 8, 64, Calibration(1.0, 0.0, 0, 0, 0, 0))
    bundle.save(tmp_path / "b.pt")
    payload = torch.load(tmp_path / "b.pt", weights_only=True)
    payload["format"] = 3
    for name, scorer in bundle.scorers.items():
        enc = payload["scorers"][name]["encoder"]
        enc["graph"] = torch.frombuffer(bytearray(scorer.encoder.graph), dtype=torch.uint8)
        del enc["graph_weights"]
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    (tmp_path / "v3.pt").write_bytes(buffer.getvalue())
    loaded = ModelBundle.load(tmp_path / "v3.pt")
    assert all(loaded.scorers[n].encoder.graph == s.encoder.graph for n, s in bundle.scorers.items())


def test_a_graph_whose_weights_cannot_be_restored_fails_to_load_with_what_to_do(tmp_path):
    bundle = untrained_bundle("v", 16, 8, 64, Calibration(1.0, 0.0, 0, 0, 0, 0))
    bundle.save(tmp_path / "b.pt")
    payload = torch.load(tmp_path / "b.pt", weights_only=True)
    enc = payload["scorers"]["keystrokes"]["encoder"]
    enc["graph_weights"] = {k: "param:no.such.weight" for k in enc["graph_weights"]}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(BundleError, match="cannot be restored.*re-export"):
        ModelBundle.load(tmp_path / "bad.pt")
