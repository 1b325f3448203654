"""Shared estimator plumbing: scikit-learn style parameters and fitted-state checks."""

from __future__ import annotations

import inspect
from typing import Any


class NotFittedError(AttributeError, ValueError):
    """Raised when a fitted attribute or method is used before ``fit``."""


class BaseEstimator:
    """``get_params``/``set_params``/``__repr__`` from the ``__init__`` signature, as scikit-learn does.

    Subclasses store every ``__init__`` argument unchanged under the same name and validate in ``fit``,
    so ``clone``-style reconstruction (``type(est)(**est.get_params())``) always works.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any):
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"invalid parameter {key!r} for {type(self).__name__}; valid: {valid}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for k, v in self.get_params().items():
            d = defaults.get(k, inspect.Parameter.empty)
            try:
                same = d is not inspect.Parameter.empty and bool(d == v)
            except Exception:  # noqa: BLE001 - arrays and odd objects compare ambiguously
                same = False
            if not same:
                changed.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def _check_fitted(self, attribute: str = "adjacency_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(...) before using it"
            )
