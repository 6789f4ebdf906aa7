"""Error rates per cohort: does the model fail, or deny, one group of people more than others?

A model can rank every cohort equally well (the same EER) and still deny one cohort several
times as often at the deployed thresholds, because the thresholds are shared while the
cohorts' genuine risk distributions are not. So a cohort is described by both:

* its EER, per user (each user's genuine against the impostor attempts on that user's
  account, averaged over the cohort's users: the benchmark tables' definition) and pooled
  (every genuine and impostor score of the cohort together);
* at given thresholds, the share of its genuine sessions **denied**, of its genuine sessions
  **not allowed** (challenged or denied), and of the impostor attempts on its accounts
  **allowed** (and denied).

:func:`dimension_report` compares each cohort of one dimension (e.g. typing-speed band) with
the dimension's whole population and flags the worst cohort of a metric when it exceeds the
overall figure by more than a goal ratio (1.5 by default). :func:`cross_fitted_thresholds`
measures what per-cohort thresholds would change, with each user's thresholds set on other
users only.

Scores are risks (high = impostor); a decision is ``allow`` below the allow threshold,
``deny`` at or above the deny threshold, ``challenge`` in between (as
:class:`biometrics.scoring.Thresholds`). Impostor rows belong to the cohort of the account
they claim (the person who would be harmed), not to the attacker's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from biometrics.metrics import eer, threshold_at_far, threshold_at_frr

#: The goal: the worst cohort's figure within this many times the overall figure.
GOAL_RATIO = 1.5
DECISION_NAMES = ("allow", "challenge", "deny")
#: The metrics the goal is stated on: the EER and the false-deny rate.
GOAL_METRICS = ("eer_mean_per_user", "genuine_denied")
#: Metrics :func:`dimension_report` compares (all: higher is worse).
METRICS = ("eer_mean_per_user", "eer_pooled", "genuine_denied", "genuine_not_allowed", "impostors_allowed")


@dataclass(frozen=True)
class ScoreTable:
    """Served scores: one row per scored session (claimed user, genuine or impostor, risk).

    ``decision`` (``allow`` / ``challenge`` / ``deny`` per row) is ``None`` where the rows do
    not carry the decisions served and no thresholds are known.
    """

    users: np.ndarray  # str, the claimed user (account) of each row
    genuine: np.ndarray  # bool
    risk: np.ndarray  # float64
    decision: np.ndarray | None = None  # str

    def __post_init__(self) -> None:
        n = self.users.shape[0]
        if self.genuine.shape != (n,) or self.risk.shape != (n,):
            raise ValueError("users, genuine and risk must be 1-D arrays of one length")
        if self.decision is not None:
            if self.decision.shape != (n,):
                raise ValueError("decision must have one entry per row")
            bad = set(np.unique(self.decision).tolist()) - set(DECISION_NAMES)
            if bad:
                raise ValueError(f"unknown decisions {sorted(bad)}; expected {', '.join(DECISION_NAMES)}")
        if not np.all(np.isfinite(self.risk)):
            raise ValueError("risks must be finite")

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> ScoreTable:
        """From dicts ``{"user", "kind": "genuine" | "impostor", "risk"[, "decision"]}``; decisions
        are kept only when every row has one."""
        rows = list(rows)
        kinds = {r["kind"] for r in rows}
        if not kinds <= {"genuine", "impostor"}:
            raise ValueError(f"unknown kinds {sorted(kinds - {'genuine', 'impostor'})}")
        decision = None
        if rows and all("decision" in r for r in rows):
            decision = np.array([r["decision"] for r in rows], dtype=object).astype(str)
        return cls(np.array([str(r["user"]) for r in rows], dtype=object).astype(str),
                   np.array([r["kind"] == "genuine" for r in rows], dtype=bool),
                   np.array([float(r["risk"]) for r in rows], dtype=np.float64), decision)

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def select(self, mask: np.ndarray) -> ScoreTable:
        """The rows where ``mask`` is true."""
        return ScoreTable(self.users[mask], self.genuine[mask], self.risk[mask],
                          None if self.decision is None else self.decision[mask])

    def with_thresholds(self, allow_below: float, deny_at_or_above: float) -> ScoreTable:
        """The same rows with decisions recomputed from thresholds (:func:`decide`)."""
        return ScoreTable(self.users, self.genuine, self.risk, decide(self.risk, allow_below, deny_at_or_above))


def decide(risk: np.ndarray, allow_below: float | np.ndarray, deny_at_or_above: float | np.ndarray) -> np.ndarray:
    """Decisions for risks: ``allow`` below ``allow_below``, ``deny`` at or above
    ``deny_at_or_above``, else ``challenge`` (thresholds may be per row)."""
    risk = np.asarray(risk, np.float64)
    out = np.full(risk.shape, "challenge", dtype="<U9")
    out[risk < allow_below] = "allow"
    out[risk >= deny_at_or_above] = "deny"  # deny wins, as Thresholds.decide
    return out


@dataclass(frozen=True)
class DecisionCounts:
    """How many genuine and impostor sessions got each decision."""

    n_genuine: int
    genuine_allowed: int
    genuine_denied: int
    n_impostor: int
    impostor_allowed: int
    impostor_denied: int

    @classmethod
    def from_decisions(cls, genuine: np.ndarray, decision: np.ndarray) -> DecisionCounts:
        """Counts from per-row genuine flags and decisions."""
        g, d = np.asarray(genuine, bool), np.asarray(decision)
        return cls(int(g.sum()), int(((d == "allow") & g).sum()), int(((d == "deny") & g).sum()),
                   int((~g).sum()), int(((d == "allow") & ~g).sum()), int(((d == "deny") & ~g).sum()))

    @classmethod
    def from_table(cls, table: Mapping[str, Mapping[str, int]]) -> DecisionCounts:
        """Counts from a decision table ``{"genuine": {"allow": n, ...}, "impostor": {...}}``
        (``decisions`` in ``bench/results/product_accuracy.json``)."""
        g, i = table.get("genuine", {}), table.get("impostor", {})
        return cls(int(sum(g.values())), int(g.get("allow", 0)), int(g.get("deny", 0)),
                   int(sum(i.values())), int(i.get("allow", 0)), int(i.get("deny", 0)))

    def __add__(self, other: DecisionCounts) -> DecisionCounts:
        return DecisionCounts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, ...]:
        return (self.n_genuine, self.genuine_allowed, self.genuine_denied,
                self.n_impostor, self.impostor_allowed, self.impostor_denied)

    def shares(self) -> dict[str, float | None]:
        """Shares of genuine sessions denied and not allowed, of impostors allowed and denied
        (``None`` where there is no session of that kind)."""
        def share(k: int, n: int) -> float | None:
            return k / n if n else None
        return {
            "genuine_denied": share(self.genuine_denied, self.n_genuine),
            "genuine_not_allowed": share(self.n_genuine - self.genuine_allowed, self.n_genuine),
            "impostors_allowed": share(self.impostor_allowed, self.n_impostor),
            "impostors_denied": share(self.impostor_denied, self.n_impostor),
        }

    def table(self) -> dict[str, dict[str, int]]:
        """As a decision table (the inverse of :meth:`from_table`)."""
        return {"genuine": {"allow": self.genuine_allowed, "deny": self.genuine_denied,
                            "challenge": self.n_genuine - self.genuine_allowed - self.genuine_denied},
                "impostor": {"allow": self.impostor_allowed, "deny": self.impostor_denied,
                             "challenge": self.n_impostor - self.impostor_allowed - self.impostor_denied}}


@dataclass(frozen=True)
class CohortFigures:
    """A cohort's figures: EERs, decision shares and their 95% bootstrap intervals.

    ``n_users`` counts accounts (the rows' claimed users), ``n_people`` the clusters the
    bootstrap resamples (the people behind the accounts; equal to ``n_users`` unless several
    accounts belong to one person).
    """

    name: str
    n_users: int
    n_genuine: int
    n_impostor: int
    eer_mean_per_user: float | None
    eer_pooled: float | None
    counts: DecisionCounts | None
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_people: int | None = None

    def value(self, metric: str) -> float | None:
        """One of :data:`METRICS` (or ``impostors_denied``)."""
        if metric in ("eer_mean_per_user", "eer_pooled"):
            return getattr(self, metric)
        return None if self.counts is None else self.counts.shares()[metric]

    def as_dict(self) -> dict:
        """JSON-ready."""
        out: dict = {"name": self.name, "n_users": self.n_users, "n_people": self.n_people,
                     "n_genuine": self.n_genuine, "n_impostor": self.n_impostor,
                     "eer_mean_per_user": self.eer_mean_per_user, "eer_pooled": self.eer_pooled}
        if self.counts is not None:
            out.update(self.counts.shares())
            out["decisions"] = self.counts.table()
        out["intervals_95"] = {k: list(v) for k, v in self.intervals.items()}
        return out


def per_user_eers(table: ScoreTable) -> dict[str, float]:
    """Each user's EER (genuine rows against the impostor rows claiming that user), for users
    with both kinds of rows."""
    out: dict[str, float] = {}
    order = np.argsort(table.users, kind="stable")
    users, start = np.unique(table.users[order], return_index=True)
    bounds = np.append(start, len(order))
    for k, u in enumerate(users):
        idx = order[bounds[k]:bounds[k + 1]]
        g = table.genuine[idx]
        if g.any() and (~g).any():
            out[str(u)] = eer(table.risk[idx][g], table.risk[idx][~g])
    return out


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanpercentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def cohort_figures(table: ScoreTable, name: str = "all", counts: DecisionCounts | None = None,
                   bootstrap: int = 1000, seed: int = 0, user_eers: Mapping[str, float] | None = None,
                   person_of: Mapping[str, str] | None = None) -> CohortFigures:
    """The figures of one cohort (all of ``table``'s rows).

    ``counts`` overrides the decision counts (e.g. a benchmark's served decision table where
    the rows carry no decisions); else they come from ``table.decision`` when present.
    ``bootstrap`` resamples of the cohort's people (a cluster bootstrap: a person's accounts and
    sessions stay together; ``person_of`` maps an account to its person, default: each account
    is one) give 95% intervals of the per-user EER and of the decision shares computed from
    rows; 0 turns them off. ``user_eers``: precomputed :func:`per_user_eers` (any superset).
    """
    eers = per_user_eers(table) if user_eers is None else user_eers
    users, row_user = np.unique(table.users, return_inverse=True)
    g, i = table.risk[table.genuine], table.risk[~table.genuine]
    pooled = eer(g, i) if g.size and i.size else None
    has = np.array([u in eers for u in users], bool)
    ue = np.array([eers.get(u, 0.0) for u in users], np.float64)
    mean_eer = float(ue[has].mean()) if has.any() else None
    from_rows = counts is None and table.decision is not None
    if from_rows:
        counts = DecisionCounts.from_decisions(table.genuine, table.decision)
    people, user_person = np.unique(np.array([(person_of or {}).get(u, u) for u in users], dtype=object).astype(str),
                                    return_inverse=True)
    intervals: dict[str, tuple[float, float]] = {}
    if bootstrap > 0 and people.size > 1:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, people.size, size=(bootstrap, people.size))
        if has.sum() > 1:
            e_sum = np.bincount(user_person, ue * has, people.size)
            e_n = np.bincount(user_person, has.astype(np.float64), people.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                intervals["eer_mean_per_user"] = _interval(e_sum[picks].sum(1) / e_n[picks].sum(1))
        if from_rows:
            # Per-person counts, resampled together (ratio of sums over the resampled people).
            row_person = user_person[row_user]
            d, gen = table.decision, table.genuine
            per = np.stack([np.bincount(row_person, w.astype(np.float64), people.size) for w in (
                gen, gen & (d == "deny"), gen & (d != "allow"), ~gen, ~gen & (d == "allow"))], 1)
            tot = per[picks].sum(1)  # [B, 5]
            with np.errstate(invalid="ignore", divide="ignore"):
                for key, num, den in (("genuine_denied", 1, 0), ("genuine_not_allowed", 2, 0),
                                      ("impostors_allowed", 4, 3)):
                    if per[:, den].sum() > 0:
                        intervals[key] = _interval(tot[:, num] / tot[:, den])
    return CohortFigures(name, int(users.size), int(g.size), int(i.size), mean_eer, pooled, counts, intervals,
                         int(people.size))


@dataclass(frozen=True)
class Disparity:
    """The worst cohort of one metric against the overall figure."""

    metric: str
    overall: float
    worst_cohort: str
    worst: float
    ratio: float  # worst / overall (inf when the overall figure is 0 and the worst is not)
    goal: float
    interval_ratio: tuple[float, float] | None = None  # the worst cohort's 95% interval / overall

    @property
    def meets_goal(self) -> bool:
        """Whether the worst cohort is within ``goal`` times the overall figure."""
        return self.ratio <= self.goal

    def as_dict(self) -> dict:
        return {"metric": self.metric, "overall": self.overall, "worst_cohort": self.worst_cohort,
                "worst": self.worst, "ratio": self.ratio, "goal": self.goal, "meets_goal": self.meets_goal,
                "interval_ratio_95": None if self.interval_ratio is None else list(self.interval_ratio)}


def ratio(value: float, overall: float) -> float:
    """``value / overall``; 1 when both are 0, inf when only the overall figure is 0."""
    if overall == 0:
        return 1.0 if value == 0 else float("inf")
    return value / overall


def disparity(overall: CohortFigures, cohorts: Mapping[str, CohortFigures], metric: str,
              goal: float = GOAL_RATIO) -> Disparity | None:
    """The cohort with the highest (worst) ``metric`` and its ratio to the overall figure;
    ``None`` when the metric is not known overall or for any cohort."""
    base = overall.value(metric)
    known = {k: c.value(metric) for k, c in cohorts.items() if c.value(metric) is not None}
    if base is None or not known:
        return None
    worst = max(known, key=lambda k: known[k])
    iv = cohorts[worst].intervals.get(metric)
    iv_ratio = None if iv is None else (ratio(iv[0], base), ratio(iv[1], base))
    return Disparity(metric, float(base), worst, float(known[worst]), ratio(known[worst], base), goal, iv_ratio)


@dataclass(frozen=True)
class DimensionReport:
    """One cohort dimension (e.g. typing-speed band): overall figures, per cohort, worst cohorts."""

    name: str
    overall: CohortFigures
    cohorts: dict[str, CohortFigures]
    disparities: dict[str, Disparity]
    goal: float = GOAL_RATIO

    def flagged(self, metrics: Iterable[str] | None = None) -> list[Disparity]:
        """The metrics (of ``metrics``, default all) whose worst cohort is beyond the goal ratio."""
        keep = set(self.disparities if metrics is None else metrics)
        return [d for m, d in self.disparities.items() if m in keep and not d.meets_goal]

    def as_dict(self) -> dict:
        return {"name": self.name, "goal_ratio": self.goal, "overall": self.overall.as_dict(),
                "cohorts": {k: c.as_dict() for k, c in self.cohorts.items()},
                "disparities": {k: d.as_dict() for k, d in self.disparities.items()},
                "flagged": [d.metric for d in self.flagged()],
                "flagged_goal_metrics": [d.metric for d in self.flagged(GOAL_METRICS)]}


def dimension_report(table: ScoreTable, cohort_of: Mapping[str, str], name: str,
                     order: Sequence[str] | None = None, goal: float = GOAL_RATIO, bootstrap: int = 1000,
                     seed: int = 0, counts: Mapping[str, DecisionCounts] | None = None,
                     overall_counts: DecisionCounts | None = None,
                     person_of: Mapping[str, str] | None = None) -> DimensionReport:
    """Figures per cohort of one dimension and of everyone in it, and the worst cohort per metric.

    ``cohort_of`` maps a claimed user to its cohort; rows of users without one are left out
    (of the overall figures too, so that both describe the same people). ``order``: the
    cohorts in display order (default: sorted). ``counts`` / ``overall_counts``: decision
    counts where the rows carry no decisions (see :func:`cohort_figures`). ``person_of``: the
    person behind each account, for the bootstrap (default: one person per account).
    """
    known = np.array([u in cohort_of for u in table.users], bool)
    table = table.select(known)
    if not len(table):
        raise ValueError(f"{name}: no row's user has a cohort")
    labels = np.array([cohort_of[u] for u in table.users], dtype=object).astype(str)
    names = list(order) if order is not None else sorted(set(labels.tolist()))
    eers = per_user_eers(table)
    cohorts = {}
    for k, c in enumerate(names):
        mask = labels == c
        if mask.any():
            cohorts[c] = cohort_figures(table.select(mask), c, None if counts is None else counts.get(c),
                                        bootstrap, seed + k + 1, eers, person_of)
    overall = cohort_figures(table, "overall", overall_counts, bootstrap, seed, eers, person_of)
    disparities = {m: d for m in METRICS if (d := disparity(overall, cohorts, m, goal)) is not None}
    return DimensionReport(name, overall, cohorts, disparities, goal)


def quantile_bands(values: Mapping[str, float], labels: Sequence[str] = ("fast", "medium", "slow"),
                   ) -> tuple[dict[str, str], list[float]]:
    """Equal-frequency bands of a per-user value (terciles for three labels): a user's band is
    the first whose upper cut point the value does not exceed. Returns the band of each user
    and the cut points (``len(labels) - 1`` quantiles of the values)."""
    if not values:
        raise ValueError("quantile_bands needs at least one value")
    v = np.array(list(values.values()), np.float64)
    cuts = np.quantile(v, np.arange(1, len(labels)) / len(labels)).tolist()
    return {u: labels[int(np.searchsorted(cuts, x, side="left"))] for u, x in values.items()}, cuts


def _person_folds(people: np.ndarray, stratum: np.ndarray, folds: int, rng: np.random.Generator) -> dict[str, int]:
    """People split into ``folds`` folds at random, stratified."""
    out: dict[str, int] = {}
    for c in np.unique(stratum):
        for k, u in enumerate(rng.permutation(people[stratum == c])):
            out[str(u)] = k % folds
    return out


@dataclass(frozen=True)
class CrossFit:
    """Per-row thresholds from one cross-fitting split (see :func:`cross_fitted_row_thresholds`)."""

    allow_below: np.ndarray  # per row
    deny_at_or_above: np.ndarray  # per row
    fold: np.ndarray  # per row: the fold of the row's person
    thresholds: dict[str, list[tuple[float, float]]]  # per cohort: (allow, deny) of each fold


def _labels(table: ScoreTable, cohort_of: Mapping[str, str], person_of: Mapping[str, str] | None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row cohorts, row person indices, the people and each person's stratum (its most
    frequent cohort)."""
    labels = np.array([cohort_of[u] for u in table.users], dtype=object).astype(str)
    persons = np.array([(person_of or {}).get(u, u) for u in table.users], dtype=object).astype(str)
    people, row_person = np.unique(persons, return_inverse=True)
    label_names, row_label = np.unique(labels, return_inverse=True)
    per_person = np.zeros((people.size, label_names.size))
    np.add.at(per_person, (row_person, row_label), 1)
    return labels, row_person, people, label_names[per_person.argmax(1)]


def cross_fitted_row_thresholds(table: ScoreTable, cohort_of: Mapping[str, str], allow_below: float,
                                deny_at_or_above: float, folds: int = 2, rng: np.random.Generator | None = None,
                                person_of: Mapping[str, str] | None = None) -> CrossFit:
    """One cross-fitting split: every row's cohort thresholds, set on the other folds' people only.

    The people (``person_of``: account -> person, default one per account) are split at random
    into ``folds`` folds, stratified by cohort (a person's most frequent one). For each fold, on
    the other folds' rows (the fitting rows), the shared thresholds give an overall share of
    genuine sessions denied and of impostors allowed; each cohort's thresholds are set so that
    the cohort's fitting rows have those same shares (deny:
    :func:`~biometrics.metrics.threshold_at_frr`, allow:
    :func:`~biometrics.metrics.threshold_at_far`, allow never above deny) and are given to the
    fold's rows of that cohort. A cohort without fitting rows of both kinds keeps the shared
    thresholds. No row's own risk enters the thresholds it gets. Every row of ``table`` needs a
    cohort.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    labels, row_person, people, stratum = _labels(table, cohort_of, person_of)
    fold_of = _person_folds(people, stratum, folds, rng)
    fold = np.array([fold_of[q] for q in people])[row_person]
    per_row_allow = np.full(len(table), float(allow_below))
    per_row_deny = np.full(len(table), float(deny_at_or_above))
    thresholds: dict[str, list[tuple[float, float]]] = {c: [] for c in np.unique(labels).tolist()}
    for f in range(folds):
        fit, held = fold != f, fold == f
        g_fit, i_fit = fit & table.genuine, fit & ~table.genuine
        if not g_fit.any() or not i_fit.any():
            continue
        target_frr = float(np.mean(table.risk[g_fit] >= deny_at_or_above))
        target_far = float(np.mean(table.risk[i_fit] < allow_below))
        for c, fitted in thresholds.items():
            gc, ic = g_fit & (labels == c), i_fit & (labels == c)
            if not gc.any() or not ic.any():
                continue
            deny_c = threshold_at_frr(table.risk[gc], table.risk[ic], target_frr)
            allow_c = min(threshold_at_far(table.risk[gc], table.risk[ic], target_far), deny_c)
            rows = held & (labels == c)
            per_row_allow[rows], per_row_deny[rows] = allow_c, deny_c
            fitted.append((allow_c, deny_c))
    return CrossFit(per_row_allow, per_row_deny, fold, thresholds)


def cross_fitted_thresholds(table: ScoreTable, cohort_of: Mapping[str, str], allow_below: float,
                            deny_at_or_above: float, order: Sequence[str] | None = None, folds: int = 2,
                            repeats: int = 10, seed: int = 0, person_of: Mapping[str, str] | None = None) -> dict:
    """What thresholds of each cohort's own would change, measured without tuning on the scores
    they are judged on: :func:`cross_fitted_row_thresholds`, ``repeats`` seeded times.

    The targets are the shared thresholds' realized shares on the fitting rows, so the overall
    operating point stays where the shared thresholds put it and the figures show how it is
    redistributed; an EER does not change with thresholds. Returns per cohort and overall the
    decision counts summed over repeats (each row is decided once per repeat) under the shared
    and the per-cohort thresholds, their shares, and the mean per-cohort thresholds. Rows of
    users without a cohort are left out.
    """
    known = np.array([u in cohort_of for u in table.users], bool)
    table = table.select(known)
    labels = np.array([cohort_of[u] for u in table.users], dtype=object).astype(str)
    names = list(order) if order is not None else sorted(set(labels.tolist()))
    shared = decide(table.risk, allow_below, deny_at_or_above)
    zero = DecisionCounts(0, 0, 0, 0, 0, 0)
    tot_shared = {c: zero for c in names}
    tot_cohort = {c: zero for c in names}
    thresholds: dict[str, list[tuple[float, float]]] = {c: [] for c in names}
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        fit = cross_fitted_row_thresholds(table, cohort_of, allow_below, deny_at_or_above, folds, rng, person_of)
        cohort_dec = decide(table.risk, fit.allow_below, fit.deny_at_or_above)
        for c in names:
            thresholds[c] += fit.thresholds.get(c, [])
            m = labels == c
            tot_shared[c] = tot_shared[c] + DecisionCounts.from_decisions(table.genuine[m], shared[m])
            tot_cohort[c] = tot_cohort[c] + DecisionCounts.from_decisions(table.genuine[m], cohort_dec[m])

    def summary(counts: Mapping[str, DecisionCounts]) -> dict:
        overall = sum(counts.values(), zero)
        return {"overall": {**overall.shares(), "decisions": overall.table()},
                **{c: {**n.shares(), "decisions": n.table()} for c, n in counts.items()}}

    def finite_mean(v: list[float]) -> float | None:
        v = [x for x in v if np.isfinite(x)]
        return float(np.mean(v)) if v else None

    return {
        "folds": folds, "repeats": repeats, "seed": seed,
        "shared": summary(tot_shared), "per_cohort": summary(tot_cohort),
        "mean_thresholds": {c: {"allow_below": finite_mean([a for a, _ in t]),
                                "deny_at_or_above": finite_mean([d for _, d in t])}
                            for c, t in thresholds.items() if t},
        "shared_thresholds": {"allow_below": allow_below, "deny_at_or_above": deny_at_or_above},
    }


def balanced_reliability(table: ScoreTable, bins: int = 10) -> dict:
    """Calibration under the class balance the calibrations are fitted with: per risk bin
    (equal width on [0, 1]), the mean risk and the share of impostors when genuine and impostor
    rows weigh equally in total (each genuine row ``1 / n_genuine``, each impostor row
    ``1 / n_impostor``). A calibrated risk has the two equal; ``ece`` is their weighted mean
    absolute gap."""
    g = table.genuine
    if not g.any() or g.all():
        raise ValueError("balanced_reliability needs genuine and impostor rows")
    w = np.where(g, 0.5 / g.sum(), 0.5 / (~g).sum())
    edges = np.linspace(0.0, 1.0, bins + 1)
    b = np.clip(np.searchsorted(edges, table.risk, side="right") - 1, 0, bins - 1)
    weight = np.bincount(b, w, bins)
    imp = np.bincount(b, w * ~g, bins)
    mean_risk = np.bincount(b, w * table.risk, bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac, mr = imp / weight, mean_risk / weight
    ok = weight > 0
    ece = float(np.sum(weight[ok] * np.abs(frac[ok] - mr[ok])) / weight[ok].sum())
    return {"edges": edges.tolist(), "weight": weight.tolist(),
            "impostor_share": [float(x) if o else None for x, o in zip(frac, ok, strict=True)],
            "mean_risk": [float(x) if o else None for x, o in zip(mr, ok, strict=True)], "ece": ece}
