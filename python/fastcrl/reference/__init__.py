"""Pure-NumPy reference implementations of every fastcrl kernel.

These are the "pure-Python baselines": a few obviously correct lines each, shipped so that users
and our tests can check and benchmark the compiled kernels against them.  Each submodule mirrors a
public module (``reference.graph`` for ``fastcrl.graph``, ...); the sufficient statistics are also
available at this level.
"""

from . import acyclicity, ges, graph, nn, regression, scores, stats
from . import hillclimb
from . import exact
from .stats import column_means, correlation, covariance, gram

__all__ = ["acyclicity", "column_means", "correlation", "covariance", "gram", "graph", "nn", "regression", "scores", "stats"]
