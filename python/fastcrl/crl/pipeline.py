"""Discover causal variables, then their causal graph: a representation learner followed by any
fastcrl structure learner on the learned latents, evaluated up to the latents' arbitrary order."""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np

from .._backend import is_device_array
from .._base import BaseEstimator
from .._validation import _to_host, check_labels, check_square_matrix


def _default_structure() -> Any:
    from ..continuous import DAGMA

    return DAGMA()


def _takes_labels(method: Any) -> bool:
    """Whether ``method(X, labels)`` is the call (IVAE.transform) rather than ``method(X)``."""
    params = [
        p
        for p in inspect.signature(method).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(params) >= 2


def _requested_labels(requested: Any, envs: np.ndarray) -> np.ndarray:
    """The labels of ``envs`` equal to the ``structure_envs`` entries (compared as Python values,
    never cast to the labels' dtype); a ValueError names those that are not labels."""
    if isinstance(requested, (set, frozenset)):
        wanted = list(requested)  # np.asarray would hold the set itself as one object
    elif isinstance(requested, (list, tuple, np.ndarray)):
        wanted = list(np.asarray(requested, dtype=object).ravel())
    else:
        wanted = [requested]
    present = np.unique(envs)
    plain = present.tolist()
    hits, missing = [], []
    for w in wanted:
        w = w.item() if isinstance(w, np.generic) else w
        idx = [i for i, p in enumerate(plain) if _equal(w, p)]
        hits += idx
        if not idx:
            missing.append(w)
    if missing:
        more = " ..." if len(plain) > 10 else ""
        raise ValueError(
            f"structure_envs {missing} {'is' if len(missing) == 1 else 'are'} not among the "
            f"environment labels {plain[:10]}{more}"
        )
    return present[sorted(set(hits))]


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False  # True is not the label 1
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class LatentCausalDiscovery(BaseEstimator):
    """Learn latent causal variables from observations, then the causal graph among them.

    The two-stage pipeline of causal representation learning (Schölkopf et al. 2021): a
    representation learner maps observations ``X`` (with environment/segment labels) to latents
    ``Z``; a structure learner finds the graph over ``Z``.  The learned latents come in an
    arbitrary order (and scale), so :meth:`evaluate` compares with ground truth up to the
    matching that maximises the latents' MCC.

    Parameters
    ----------
    representation : estimator
        Any fastcrl CRL estimator with ``fit(X, labels)`` and ``transform(X)`` or
        ``transform(X, labels)``: :class:`~fastcrl.crl.NonstationaryICA`,
        :class:`~fastcrl.crl.LinearInterventionalCRL`, :class:`~fastcrl.crl.IVAE`.
    structure : estimator, optional
        Any fastcrl structure learner with ``fit(Z)`` and ``adjacency_`` (``DAGMA`` (default),
        ``NOTEARS``, ``SortNRegress``, ``GES``, ``HillClimb``, ``ExactSearch``).  When
        ``representation`` already estimates a latent graph (``latent_adjacency_``, as
        LinearInterventionalCRL does) pass ``structure="representation"`` to use it.
    standardize : bool, default True
        Scale each latent to unit variance before structure learning (the latents' scale is
        arbitrary; continuous optimisers are not scale invariant).
    structure_envs : label or list of labels, optional
        Learn the graph only from the rows whose label is among these (e.g. the observational
        environment, since pooled interventional data do not follow the observational SCM);
        default all rows.

    Attributes
    ----------
    latents_ : ndarray of shape (n_samples, d)
        The learned latents of the training data.
    latent_adjacency_ : ndarray of shape (d, d)
        The learned graph over ``latents_`` (``[i, j] != 0`` means ``i -> j``; a CPDAG when the
        structure learner returns one).
    representation_ , structure_ : estimators
        The fitted stages.
    fit_time_ : dict
        Seconds spent in each stage.

    Examples
    --------
    >>> from fastcrl.crl import LatentCausalDiscovery, LinearInterventionalCRL
    >>> from fastcrl.datasets import make_linear_interventional
    >>> data = make_linear_interventional(4, 8, 20_000, random_state=0)
    >>> pipe = LatentCausalDiscovery(LinearInterventionalCRL(), "representation")
    >>> report = pipe.fit(data.X, data.env).evaluate(data.Z, data.latent_adjacency)
    >>> report["mcc"] > 0.95, report["shd"]
    (True, 0)
    """

    def __init__(
        self,
        representation: Any,
        structure: Any = None,
        *,
        standardize: bool = True,
        structure_envs: Any = None,
    ):
        self.representation = representation
        self.structure = structure
        self.standardize = standardize
        self.structure_envs = structure_envs

    def fit(self, X: Any, labels: Any) -> LatentCausalDiscovery:
        """Fit the representation on ``(X, labels)``, then the structure learner on its latents."""
        for name, stage in (("representation", self.representation), ("structure", self.structure)):
            if isinstance(stage, type):
                raise TypeError(
                    f"{name} must be an instance, e.g. {stage.__name__}(), not the class itself"
                )
        if not (hasattr(self.representation, "fit") and hasattr(self.representation, "transform")):
            raise TypeError(
                "representation must be an estimator with fit(X, labels) and transform(...); got "
                f"{type(self.representation).__name__}"
            )
        structure = _default_structure() if self.structure is None else self.structure
        use_own_graph = isinstance(structure, str)
        if use_own_graph and structure != "representation":
            raise ValueError(
                f"structure must be an estimator, None or 'representation'; got {structure!r}"
            )
        if not use_own_graph and not hasattr(structure, "fit"):
            raise TypeError(
                f"structure must be a structure learner with fit(Z); got {type(structure).__name__}"
            )
        t0 = time.perf_counter()
        rep = self.representation.fit(X, labels)
        if _takes_labels(rep.transform):
            Z = rep.transform(X, labels)
        else:
            Z = rep.transform(X)
        Z = np.asarray(_to_host(Z), dtype=np.float64)
        t1 = time.perf_counter()
        if use_own_graph:
            if not hasattr(rep, "latent_adjacency_"):
                raise ValueError(
                    f"{type(rep).__name__} does not estimate a latent graph; "
                    "pass a structure learner"
                )
            A = np.asarray(rep.latent_adjacency_)
            self.structure_ = None
        else:
            Zs = Z
            if self.structure_envs is not None:
                envs = check_labels(_to_host(labels), "labels")
                if envs.ndim != 1 or envs.shape[0] != Z.shape[0]:
                    raise ValueError(f"labels must have shape ({Z.shape[0]},); got {envs.shape}")
                rows = np.isin(envs, _requested_labels(self.structure_envs, envs))
                if rows.sum() < 2:
                    raise ValueError(
                        f"structure_envs={self.structure_envs!r} selects {int(rows.sum())} rows; "
                        "need at least 2"
                    )
                Zs = Z[rows]
            if self.standardize:
                Zs = Zs / Zs.std(axis=0, keepdims=True)
            self.structure_ = structure.fit(Zs)
            A = np.asarray(_to_host(self.structure_.adjacency_))
        t2 = time.perf_counter()
        self.representation_ = rep
        self.latents_ = Z
        self.latent_adjacency_ = (A != 0).astype(np.int8)
        self.is_cpdag_ = bool(((A != 0) & (A.T != 0)).any()) or (
            getattr(getattr(self.structure_, "graph_", None), "kind", "dag") == "cpdag"
        )
        self.fit_time_ = {"representation": t1 - t0, "structure": t2 - t1}
        return self

    def evaluate(self, z_true: Any, true_adjacency: Any, *, method: str = "pearson") -> dict:
        """Compare with the true latents and graph, up to the learned latents' order.

        Returns ``{"mcc", "matching", "shd"}``: the latents' MCC and its matching
        (``matching[i]`` = learned latent standing for true latent ``i``), and the SHD between the
        true graph and the learned one relabelled by that matching (between CPDAGs when the
        structure learner returns a CPDAG).
        """
        from ..graph import dag_to_cpdag
        from ..metrics import mcc, shd_up_to_permutation

        self._check_fitted("latent_adjacency_")
        if is_device_array(z_true):
            z_true = _to_host(z_true)
        T = check_square_matrix(true_adjacency, "true_adjacency")
        d = self.latent_adjacency_.shape[0]
        if T.shape != (d, d):
            raise ValueError(
                f"true_adjacency must be ({d}, {d}) to match the learned graph; got {T.shape}"
            )
        score, matching = mcc(z_true, self.latents_, method, return_matching=True)
        if (matching < 0).any():
            raise ValueError("fewer learned latents than true ones; the graphs cannot be compared")
        truth = dag_to_cpdag(T != 0) if self.is_cpdag_ else (T != 0)
        distance = shd_up_to_permutation(truth, self.latent_adjacency_, matching=matching)
        return {"mcc": score, "matching": matching, "shd": distance}
