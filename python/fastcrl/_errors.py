"""Exceptions raised by fastcrl beyond the built-in ValueError/TypeError."""

from ._core import NumericalError

NumericalError.__module__ = "fastcrl"
NumericalError.__doc__ = (
    "A numerical failure: a singular system, a matrix outside a function's domain, or divergence. "
    "Subclass of ArithmeticError."
)

__all__ = ["NumericalError"]


class ConvergenceWarning(UserWarning):
    """An iterative estimator stopped before meeting its convergence criterion.

    The fitted attributes are still set (the last iterate) and ``converged_`` is False; raise the
    iteration budget or loosen the tolerance, or silence it with ``warnings.simplefilter``.
    """


ConvergenceWarning.__module__ = "fastcrl"
__all__ += ["ConvergenceWarning"]


class IdentifiabilityWarning(UserWarning):
    """The data do not look as the identifiability theory of a method needs (a test came out
    ambiguous), so the learned variables or graph may be identified only partially."""


IdentifiabilityWarning.__module__ = "fastcrl"
__all__ += ["IdentifiabilityWarning"]


class SampleSizeWarning(UserWarning):
    """A fitted graph gives some node at least half as many parents as there are samples.

    Scores are large-sample approximations: near that size a family can fit its node almost
    exactly whatever the parents are, and a weakly penalised greedy search is drawn to such fits
    (chance parents, one after another). Raise the penalty (``penalty_discount``), set
    ``max_parents``, or use more samples.
    """


SampleSizeWarning.__module__ = "fastcrl"
__all__ += ["SampleSizeWarning"]
