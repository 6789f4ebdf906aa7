"""Per-user gradient-boosted shallow trees against a background set shipped in the bundle.

At enrollment a user's item vectors (positives, e.g. the 26 ``ACTION_FEATURES`` of each
mouse action of the enrollment sessions) are fitted against items drawn from the payload's
**background**: item vectors of *training* users only (never a user the bundle is judged
on), by scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingClassifier`
(``n_trees`` rounds, no early stopping, seeded), the per-account two-class protocol of the
published Balabit results (``biometrics.classic.two_class_anomaly``, ``bench/balabit_classic.py``).
The fit uses scikit-learn; what it keeps is plain float32 arrays, and scoring is vectorized
numpy tree inference that reproduces the classifier's ``decision_function`` (test:
``tests/test_heads_boosted.py``).

State of a user (:meth:`BoostedTreesHead.fit`), all trees' nodes in one flat array, each
tree's nodes breadth first so that a node's right child is its left child + 1:

* ``feature`` ``[N]``: ``f + 1`` for a split on column ``f`` whose missing values (NaN) go
  left, ``-(f + 1)`` when they go right; ``1`` on a leaf;
* ``split`` ``[N]``: the split threshold (go left when ``x <= split``), rounded down to
  float32 so that float32 inputs take exactly the classifier's float64 branch; on a leaf,
  the leaf's value (learning rate included);
* ``child`` ``[N]``: the left child's index (exact as float32 below 2**24 nodes); a leaf
  points to itself;
* ``root`` ``[T]``: each tree's first node; ``baseline`` ``[1]``: the initial log-odds;
  ``depth`` ``[1]``: the deepest leaf (the number of traversal steps).

With the defaults (200 trees of at most 31 leaves, at most 8 deep) that is at most
200 x 61 nodes x 12 bytes = 146 KB per user, and scoring takes ``max_depth`` vectorized steps
(about 2 ms for 300 items on one core). The anomaly of an item is minus the classifier's
log-odds that the item is the owner's (``anomaly="logit"``, the default: a session's mean
anomaly is then proportional to the sum of its items' log-likelihood ratios), or
``1 - P(owner)`` (``anomaly="probability"``).

Negatives (``neg_ratio``): ``neg_ratio`` background rows per enrollment item (default 1: as
many as the user's items, the published protocol) but at least ``min_negatives`` (256: a login
page gives a few mouse actions per session, and with 15 owner items against 15 negatives a
leaf of 20 leaves no split, so every item scored 0), drawn without replacement (all of the
background when it has fewer); the log-odds are then shifted by ``log(n_neg / n_pos)``
(``prior_correction``) so that every user's log-odds are on one, balanced, scale (the
same as class weights, without their cost: scikit-learn's boosting fits several times
slower with sample weights). ``max_enroll`` subsamples a very large enrollment to bound
the fit time. Items are cast to float32 both at fit and at scoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from biometrics.heads import Head, HeadState, as_float32_state

ANOMALIES = ("logit", "probability")
#: State keys, in the order :meth:`BoostedTreesHead.fit` writes them.
STATE_KEYS = ("feature", "split", "child", "root", "baseline", "depth")


def _as_numpy(value) -> np.ndarray:
    """A numpy array of a numpy array, a torch tensor or a list."""
    if hasattr(value, "detach"):  # torch.Tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _floor_float32(t: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 value: ``x <= t`` iff ``x <= floor32(t)`` for float32 x."""
    t = np.asarray(t, dtype=np.float64)
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    return t32


def export_trees(clf) -> HeadState:
    """A fitted binary :class:`~sklearn.ensemble.HistGradientBoostingClassifier` as flat float32 arrays.

    Numerical features only (no categorical splits). Reads the estimator's fitted tree
    predictors (``_predictors``, each with a ``nodes`` record array: the layout scikit-learn
    has kept since 0.21); :func:`tree_decision` of the result equals ``clf.decision_function``.
    """
    predictors = getattr(clf, "_predictors", None)
    if predictors is None:
        raise ValueError("not a fitted HistGradientBoostingClassifier")
    if getattr(clf, "n_trees_per_iteration_", 1) != 1:
        raise ValueError("export_trees handles binary classifiers only (one tree per iteration)")
    feats, splits, childs, roots = [], [], [], []
    depth, offset = 0, 0
    for (tree,) in predictors:
        nodes = tree.nodes
        if np.any(nodes["is_categorical"][~nodes["is_leaf"].astype(bool)]):
            raise ValueError("categorical splits are not supported")
        order = [0]  # breadth first: children of a node end up next to each other
        new_index = {0: 0}
        i = 0
        while i < len(order):
            node = nodes[order[i]]
            if not node["is_leaf"]:
                for c in (int(node["left"]), int(node["right"])):
                    new_index[c] = len(order)
                    order.append(c)
            i += 1
        sub = nodes[np.array(order)]
        leaf = sub["is_leaf"].astype(bool)
        f = sub["feature_idx"].astype(np.int64) + 1
        f = np.where(sub["missing_go_to_left"].astype(bool), f, -f)
        f[leaf] = 1
        split = np.where(leaf, sub["value"], sub["num_threshold"])
        split32 = _floor_float32(split)
        split32[leaf] = sub["value"][leaf].astype(np.float32)
        child = np.array(
            [
                offset + (new_index[int(n["left"])] if not n["is_leaf"] else j)
                for j, n in enumerate(sub)
            ],
            dtype=np.int64,
        )
        feats.append(f)
        splits.append(split32)
        childs.append(child)
        roots.append(offset)
        depth = max(depth, int(sub["depth"].max()))
        offset += len(order)
    if offset >= 2**24:
        raise ValueError(f"{offset} nodes: node indices would not be exact in float32")
    baseline = float(np.ravel(clf._baseline_prediction)[0])
    return as_float32_state(
        {
            "feature": np.concatenate(feats),
            "split": np.concatenate(splits),
            "child": np.concatenate(childs),
            "root": np.array(roots),
            "baseline": np.array([baseline]),
            "depth": np.array([depth]),
        }
    )


def tree_decision(state: Mapping[str, np.ndarray], items: np.ndarray) -> np.ndarray:
    """Log-odds ``[m]`` of the owner class for ``[m, K]`` items: vectorized over items and trees.

    One step per tree level: every (item, tree) pair moves to its left or right child at once
    (``depth`` steps in all; a leaf points to itself and always "goes left"). A NaN goes the
    way the classifier learnt for it (the sign of ``feature``).
    """
    x = np.ascontiguousarray(np.asarray(items, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"items must be [m, K], got shape {x.shape}")
    m, k = x.shape
    code = np.asarray(state["feature"]).astype(np.int32)
    child = np.asarray(state["child"]).astype(np.int32)
    split = np.asarray(state["split"], dtype=np.float32)
    root = np.asarray(state["root"]).astype(np.int32)
    baseline = float(np.asarray(state["baseline"]).ravel()[0])
    steps = int(np.asarray(state["depth"]).ravel()[0])
    feature = np.abs(code) - 1
    if feature.size and int(feature.max()) >= k:
        raise ValueError(
            f"the trees split on column {int(feature.max())}, but items have {k} columns"
        )
    if m == 0:
        return np.zeros(0)
    is_leaf = child == np.arange(child.size, dtype=np.int32)
    thr = np.where(is_leaf, np.float32(np.inf), split)
    value = np.where(is_leaf, split.astype(np.float64), 0.0)
    flat = x.ravel()
    nan = np.isnan(flat)
    has_nan = bool(nan.any())
    missing_left = (code > 0) | is_leaf
    base = (np.arange(m, dtype=np.int32) * k)[:, None]
    node = np.empty((m, root.size), dtype=np.int32)
    node[:] = root
    pos = np.empty_like(node)
    go_left = np.empty(node.shape, dtype=bool)
    for _ in range(steps):
        np.add(base, feature.take(node), out=pos)
        np.less_equal(flat.take(pos), thr.take(node), out=go_left)
        if has_nan:
            go_left |= nan.take(pos) & missing_left.take(node)
        node = child.take(node)
        node += ~go_left
    return baseline + value.take(node).sum(axis=1)


class BoostedTreesHead(Head):
    """Per-user gradient-boosted trees (owner vs background), scored by numpy tree inference.

    ``background``: ``[B, K]`` item vectors of training users (the payload); ``n_trees``,
    ``learning_rate``, ``max_leaf_nodes``, ``max_depth``, ``min_samples_leaf``,
    ``l2_regularization``: the boosting's (``max_depth`` also bounds the scoring's steps);
    ``neg_ratio``: background rows drawn per enrollment item (capped at B); ``prior_correction``:
    add ``log(n_neg / n_pos)`` to the log-odds, so a user with fewer negatives than
    ``neg_ratio`` asks for is on everyone's scale; ``max_enroll``: subsample a larger
    enrollment to this many items (None: keep all), which bounds the fit time; ``anomaly``:
    ``"logit"`` (minus the owner's log-odds) or ``"probability"`` (``1 - P(owner)``); ``seed``:
    the draws' and the boosting's; ``min_negatives``: the fewest background rows drawn.
    """

    kind: ClassVar[str] = "boosted_trees"
    min_items: ClassVar[int] = 2

    def __init__(
        self,
        background: np.ndarray,
        n_trees: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        max_depth: int | None = 8,
        min_samples_leaf: int = 20,
        l2_regularization: float = 0.0,
        neg_ratio: float = 1.0,
        prior_correction: bool = True,
        max_enroll: int | None = 10_000,
        anomaly: str = "logit",
        seed: int = 0,
        min_negatives: int = 256,
    ) -> None:
        bg = np.ascontiguousarray(_as_numpy(background), dtype=np.float32)
        if bg.ndim != 2 or bg.shape[0] < 2:
            raise ValueError(f"background must be [B, K] with B >= 2, got shape {bg.shape}")
        if not np.all(np.isfinite(bg)):
            raise ValueError("background vectors must be finite")
        if anomaly not in ANOMALIES:
            raise ValueError(f"anomaly must be one of {ANOMALIES}, not {anomaly!r}")
        if n_trees < 1 or max_leaf_nodes < 2 or neg_ratio <= 0 or learning_rate <= 0:
            raise ValueError(
                "n_trees >= 1, max_leaf_nodes >= 2, neg_ratio > 0 and learning_rate > 0 are required"
            )
        self.background = bg
        self.n_trees, self.learning_rate = int(n_trees), float(learning_rate)
        self.max_leaf_nodes = int(max_leaf_nodes)
        self.max_depth = None if max_depth is None else int(max_depth)
        self.min_samples_leaf, self.l2_regularization = (
            int(min_samples_leaf),
            float(l2_regularization),
        )
        self.neg_ratio, self.prior_correction = float(neg_ratio), bool(prior_correction)
        self.max_enroll = None if max_enroll is None else int(max_enroll)
        self.anomaly, self.seed = anomaly, int(seed)
        self.min_negatives = int(min_negatives)

    @property
    def dim(self) -> int:
        """K, the item vectors' width."""
        return self.background.shape[1]

    def training_set(self, enroll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)``: the (capped) enrollment items, label 1, then the background draws, label 0."""
        pos = np.ascontiguousarray(np.asarray(enroll, dtype=np.float32))
        if pos.ndim != 2 or pos.shape[1] != self.dim:
            raise ValueError(f"enrollment vectors must be [n, {self.dim}], got shape {pos.shape}")
        if pos.shape[0] < 2:
            raise ValueError(
                f"a boosted-trees head needs at least 2 enrollment items, got {pos.shape[0]}"
            )
        if not np.all(np.isfinite(pos)):
            raise ValueError("enrollment vectors must be finite")
        rng = np.random.default_rng(self.seed)
        if self.max_enroll is not None and pos.shape[0] > self.max_enroll:
            pos = pos[np.sort(rng.choice(pos.shape[0], self.max_enroll, replace=False))]
        n_bg = self.background.shape[0]
        n_neg = min(n_bg, max(1, self.min_negatives, round(self.neg_ratio * pos.shape[0])))
        neg = self.background[np.sort(rng.choice(n_bg, n_neg, replace=False))]
        return np.concatenate([pos, neg]), np.r_[np.ones(pos.shape[0]), np.zeros(n_neg)]

    def classifier(self, enroll: np.ndarray):
        """The fitted scikit-learn classifier of ``enroll`` (label 1) against background draws (label 0)."""
        return self._classifier(enroll)[0]

    def _classifier(self, enroll: np.ndarray):
        from sklearn.ensemble import HistGradientBoostingClassifier

        X, y = self.training_set(enroll)
        clf = HistGradientBoostingClassifier(
            max_iter=self.n_trees,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            early_stopping=False,
            random_state=self.seed,
        )
        n_pos = int(y.sum())
        return clf.fit(X, y), n_pos, y.size - n_pos

    def prior_shift(self, n_pos: int, n_neg: int) -> float:
        """What :meth:`fit` adds to the classifier's log-odds: ``log(n_neg / n_pos)`` (0 without correction)."""
        return float(np.log(n_neg / n_pos)) if self.prior_correction else 0.0

    def fit(self, enroll: np.ndarray) -> HeadState:
        """The user's trees (see the module docstring) from ``[n, K]`` enrollment items."""
        clf, n_pos, n_neg = self._classifier(enroll)
        state = export_trees(clf)
        state["baseline"] = (
            state["baseline"].astype(np.float64) + self.prior_shift(n_pos, n_neg)
        ).astype(np.float32)
        return state

    def score(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        """Anomaly ``[m]`` per item: minus the owner's log-odds, or ``1 - P(owner)``."""
        x = np.asarray(items, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"items must be [m, {self.dim}], got shape {x.shape}")
        logit = tree_decision(state, x)
        if self.anomaly == "logit":
            return -logit
        return 1.0 / (1.0 + np.exp(logit))

    def payload(self) -> dict:
        """``kind``, the float32 background (a torch tensor: a bundle is read with
        ``torch.load(weights_only=True)``, which refuses numpy arrays) and the hyperparameters."""
        import torch

        return {
            "kind": self.kind,
            "background": torch.from_numpy(self.background.copy()),
            "n_trees": self.n_trees,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "max_depth": self.max_depth,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "neg_ratio": self.neg_ratio,
            "prior_correction": self.prior_correction,
            "max_enroll": self.max_enroll,
            "anomaly": self.anomaly,
            "seed": self.seed,
            "min_negatives": self.min_negatives,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> BoostedTreesHead:
        if payload.get("kind") != cls.kind:
            raise ValueError(f"not a {cls.kind} payload: kind {payload.get('kind')!r}")
        return cls(**{k: v for k, v in payload.items() if k != "kind"})
