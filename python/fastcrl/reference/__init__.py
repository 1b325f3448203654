"""Pure-NumPy reference implementations of every fastcrl kernel.

These are the "pure-Python baselines": a few obviously correct lines each, shipped so that users
and our tests can check and benchmark the compiled kernels against them.
"""

from .stats import column_means, correlation, covariance, gram

__all__ = ["column_means", "correlation", "covariance", "gram"]
