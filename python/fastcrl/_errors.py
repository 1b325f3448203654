"""Exceptions raised by fastcrl beyond the built-in ValueError/TypeError."""

from ._core import NumericalError

NumericalError.__module__ = "fastcrl"
NumericalError.__doc__ = (
    "A numerical failure: a singular system, a matrix outside a function's domain, or divergence. "
    "Subclass of ArithmeticError."
)

__all__ = ["NumericalError"]
