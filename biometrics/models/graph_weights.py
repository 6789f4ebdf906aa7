"""An encoder's ONNX graph without a second copy of its weights.

A bundle carries each encoder twice: its torch weights (the module, for research, re-export and
a runtime without ONNX) and its ONNX graph (what serving runs), whose initializers are those
same weights, some transposed and the recurrent ones in ONNX's gate order. :func:`strip_graph`
empties every initializer that the module's weights give exactly (found by value, not by
name: the exporter names recurrent weights ``onnx::GRU_383``) and returns the recipe of each;
:func:`fill_graph` rebuilds the graph from the module and the recipe. An initializer no
recipe reproduces bit for bit stays in the graph, so a stripped graph is always complete
once filled (tested against the exported graph, ``tests/test_graph_weights.py``).

Recipes: ``param:<name>`` and ``param.T:<name>`` (a parameter or buffer, or its transpose);
``rnn:<module>:<layer>:<W|R|B>`` (a GRU or LSTM layer's input, recurrent or bias weights in
ONNX's layout: directions stacked, gates reordered, the two biases concatenated).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper
from torch import nn

#: ONNX's gate order as indices into torch's: GRU torch (r, z, n) -> ONNX (z, r, h); LSTM
#: torch (i, f, g, o) -> ONNX (i, o, f, c).
_GATES = {nn.GRU: (1, 0, 2), nn.LSTM: (0, 3, 1, 2)}


def _rnn_weights(name: str, rnn: nn.RNNBase) -> dict[str, np.ndarray]:
    """A GRU's or LSTM's weights in ONNX's layout, per layer."""
    order = _GATES[type(rnn)]
    hidden = rnn.hidden_size
    perm = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in order])
    suffixes = ("", "_reverse") if rnn.bidirectional else ("",)
    get = lambda attr: getattr(rnn, attr).detach().cpu().numpy()[perm]
    out = {}
    for layer in range(rnn.num_layers):
        out[f"rnn:{name}:{layer}:W"] = np.stack([get(f"weight_ih_l{layer}{s}") for s in suffixes])
        out[f"rnn:{name}:{layer}:R"] = np.stack([get(f"weight_hh_l{layer}{s}") for s in suffixes])
        if rnn.bias:
            out[f"rnn:{name}:{layer}:B"] = np.stack(
                [np.concatenate([get(f"bias_ih_l{layer}{s}"), get(f"bias_hh_l{layer}{s}")]) for s in suffixes])
    return out


def module_weights(module: nn.Module) -> dict[str, np.ndarray]:
    """Every tensor a recipe can name, by recipe (see the module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        a = t.detach().cpu().numpy()
        out[f"param:{name}"] = a
        if a.ndim == 2:
            out[f"param.T:{name}"] = np.ascontiguousarray(a.T)
    for name, sub in module.named_modules():
        if type(sub) in _GATES:
            out.update(_rnn_weights(name, sub))
    return out


def strip_graph(graph: bytes, module: nn.Module) -> tuple[bytes, dict[str, str]]:
    """The graph with every initializer the module gives exactly emptied, and each one's recipe."""
    model = onnx.load_from_string(graph)
    candidates = module_weights(module)
    by_shape: dict[tuple, list[str]] = {}
    for key, a in candidates.items():
        by_shape.setdefault((a.dtype.str, a.shape), []).append(key)
    recipe: dict[str, str] = {}
    for init in model.graph.initializer:
        value = numpy_helper.to_array(init)
        for key in by_shape.get((value.dtype.str, value.shape), ()):
            if np.array_equal(candidates[key], value):
                recipe[init.name] = key
                init.ClearField("raw_data")
                for field in ("float_data", "double_data", "int32_data", "int64_data"):
                    init.ClearField(field)
                break
    return model.SerializeToString(), recipe


def fill_graph(stripped: bytes, recipe: dict[str, str], module: nn.Module) -> bytes:
    """The complete graph of :func:`strip_graph`'s output; ``ValueError`` when the module
    lacks a tensor the recipe names (a graph and weights of different encoders)."""
    model = onnx.load_from_string(stripped)
    candidates = module_weights(module)
    for init in model.graph.initializer:
        key = recipe.get(init.name)
        if key is None:
            continue
        if key not in candidates or tuple(candidates[key].shape) != tuple(init.dims):
            raise ValueError(f"graph initializer {init.name!r}: the module has no {key!r} of shape {tuple(init.dims)}")
        init.CopyFrom(numpy_helper.from_array(candidates[key], init.name))
    return model.SerializeToString()
