"""Smooth acyclicity constraints of continuous DAG learning, with exact gradients.

Each constraint ``h(W)`` is zero exactly when the weighted adjacency matrix ``W`` describes a
directed acyclic graph and positive otherwise, so structure learners (NOTEARS, DAGMA, DAG-GNN) can
enforce acyclicity with gradient-based optimisation.  All of them depend on ``W`` only through the
non-negative matrix ``A = W∘W`` (elementwise square).

Adjacency convention: ``W[i, j] != 0`` means the edge ``i -> j`` (so ``X ≈ X @ W + E``).

Every function takes one matrix ``(d, d)`` or a stack ``(B, d, d)``; a stack is processed in
parallel (one matrix per thread) and gives ``h`` of shape ``(B,)``.  float64 and float32 are kept;
integer and boolean input is converted to float64; complex input is rejected.  The work is done by
C++ kernels (OpenBLAS, LAPACK, OpenMP); :mod:`fastcrl.reference.acyclicity` has plain NumPy/SciPy
versions.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import _core, _gpu_acyclicity
from ._backend import is_device_array
from ._validation import check_float, check_int, check_option, check_square_matrix

__all__ = ["expm_constraint", "logdet_constraint", "poly_constraint", "spectral_radius"]


def _prepare(W: Any):
    """Validated C-contiguous stack ``(B, d, d)`` and whether the input was a stack."""
    if is_device_array(W):
        raise TypeError(
            "fastcrl.acyclicity runs on the CPU only for now; pass a NumPy array (cupy.asnumpy(W))"
        )
    batched = np.ndim(W) == 3
    W = check_square_matrix(W, "W", batched=batched)
    return (W if batched else W[np.newaxis]), batched


def _finish(h, grad, batched: bool):
    return (h, grad) if batched else (h[0], grad[0])


def expm_constraint(W: Any, *, method: str = "taylor"):
    """NOTEARS trace-exponential constraint ``h(W) = tr(exp(W∘W)) - d`` and its gradient.

    Parameters
    ----------
    W : array_like of shape (d, d) or (B, d, d)
        Weighted adjacency matrix (``W[i, j] != 0`` is the edge ``i -> j``), or a stack of them.
        Finite; float64 or float32 (kept), integers and booleans become float64.
    method : {"taylor", "pade"}, default="taylor"
        How ``exp(W∘W)`` is computed (see Notes).  ``"pade"`` is the classical algorithm of
        ``scipy.linalg.expm``.

    Returns
    -------
    h : float scalar of W's dtype, or ndarray of shape (B,)
        ``tr(exp(W∘W)) - d >= 0``; zero for acyclic graphs (exactly, with ``"taylor"``).
    grad : ndarray of shape (d, d) or (B, d, d)
        ``dh/dW = exp(W∘W)^T ∘ 2W``.

    Raises
    ------
    ValueError
        If ``W`` is not square (or a stack of square matrices), is empty, or has NaN/inf.
    TypeError
        If ``W`` is complex or not numeric.
    fastcrl.NumericalError
        If ``exp(W∘W)`` overflows the dtype (roughly when the spectral radius of ``W∘W`` exceeds
        709 in float64, 88 in float32).  A stack reports the first failing matrix as ``W[b]``.

    Notes
    -----
    Both methods scale and square, ``exp(A) = exp(A / 2^s)^(2^s)``, and carry ``exp(A) - I``
    (squaring as ``F <- F F + 2F``), so ``h`` keeps its relative accuracy when it is tiny (weights
    near a DAG), where ``tr(exp(A)) - d`` would cancel.  Both choose their degree and ``s`` from
    ``||A^k||_1``, which for ``A >= 0`` are computed exactly by matrix-vector products
    (``1^T A^k``) instead of estimated.

    ``"taylor"`` sums the Taylor series of ``exp(A / 2^s) - I`` to the least degree ``K <= 40``
    whose tail is rigorously below the unit roundoff (all terms are non-negative and the tail is
    bounded with ``max(||A^p||^(1/p), ||A^(p+1)||^(1/(p+1)))``, Al-Mohy & Higham's Lemma 4.1),
    evaluated by Paterson-Stockmeyer with BLAS ``gemm``; ``s`` and ``K`` minimise the number of
    products.  Only non-negative numbers are ever added, so each entry of ``exp(A)`` has a small
    *relative* error: zero entries stay zero (``h = 0`` and ``grad = 0`` exactly for DAGs, ``h >=
    0`` always) and DAGs with large weights do not pick up spurious cycles.

    ``"pade"`` is the diagonal Padé approximant of degree 3, 5, 7, 9 or 13 (3, 5 or 7 in float32)
    chosen as in Al-Mohy & Higham (2009) (``theta_m`` table, rounding-error correction), solved with
    LAPACK ``getrf``/``getrs``.  It is normwise accurate, but the solve mixes signs: entries that
    should be 0 carry errors of order ``u ||exp(A)||`` that squaring amplifies, so a DAG with
    weights around 30 can get ``h`` of order 1 (the same holds for ``scipy.linalg.expm``).

    Cost: ``O(d^3)``.  For ``||W∘W||_1`` of order one, 6 to 7 matrix products (Taylor) or 5 to 6
    plus one LU solve (Padé); about ``log2 ||W∘W||_1`` squarings more for larger weights.  Memory:
    up to about eight ``d x d`` work matrices.

    The gradient vanishes for weights near zero (``h = O(||W||^4)``), one reason optimisers that use
    this constraint need large penalties (Wei et al., 2020).

    References
    ----------
    .. [1] X. Zheng, B. Aragam, P. Ravikumar, E. P. Xing, "DAGs with NO TEARS: Continuous
       optimization for structure learning", NeurIPS 2018, arXiv:1803.01422.
    .. [2] A. H. Al-Mohy, N. J. Higham, "A new scaling and squaring algorithm for the matrix
       exponential", SIAM J. Matrix Anal. Appl. 31(3), 2009.
    .. [3] N. J. Higham, "The scaling and squaring method for the matrix exponential revisited",
       SIAM J. Matrix Anal. Appl. 26(4), 2005.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.acyclicity import expm_constraint
    >>> h, grad = expm_constraint(np.array([[0.0, 1.0], [0.0, 0.0]]))  # 0 -> 1: a DAG
    >>> float(h)
    0.0
    >>> h, grad = expm_constraint(np.array([[0.0, 1.0], [1.0, 0.0]]))  # 0 <-> 1: a cycle
    >>> round(float(h), 6)  # 2 cosh(1) - 2
    1.086161
    """
    pade = check_option(method, "method", ["taylor", "pade"]) == "pade"
    if is_device_array(W):  # CuPy in, CuPy out: cuda/acyclicity.cu
        return _gpu_acyclicity.expm_constraint(W, "pade" if pade else "taylor")
    W3, batched = _prepare(W)
    h, grad = _core.expm_constraint(W3, pade)
    return _finish(h, grad, batched)


def logdet_constraint(W: Any, s: float = 1.0, *, check_domain: str = "raise"):
    """DAGMA log-det constraint ``h(W) = -log det(sI - W∘W) + d log s`` and its gradient.

    Parameters
    ----------
    W : array_like of shape (d, d) or (B, d, d)
        Weighted adjacency matrix (``W[i, j] != 0`` is the edge ``i -> j``), or a stack of them.
    s : float, default=1.0
        Positive scale.  The constraint is defined where ``s`` exceeds the spectral radius of
        ``W∘W``, i.e. where ``sI - W∘W`` is a nonsingular M-matrix.
    check_domain : {"raise", "flag"}, default="raise"
        Outside the domain, ``"raise"`` raises :class:`fastcrl.NumericalError`; ``"flag"`` returns
        ``h = +inf`` (the barrier's value there) and an all-NaN gradient for that matrix, so a line
        search can test ``np.isfinite(h)`` and shrink its step without exceptions.

    Returns
    -------
    h : float scalar of W's dtype, or ndarray of shape (B,)
        ``>= 0`` inside the domain, zero exactly for acyclic graphs (up to rounding).
    grad : ndarray of shape (d, d) or (B, d, d)
        ``dh/dW = 2W ∘ (sI - W∘W)^{-T}``.

    Raises
    ------
    ValueError
        Bad ``W`` (see :func:`expm_constraint`), ``s <= 0`` or non-finite, unknown ``check_domain``.
    fastcrl.NumericalError
        With ``check_domain="raise"``, when ``s`` is not above the spectral radius of ``W∘W``; the
        message gives a bracket for that radius.  A stack reports the first such matrix as ``W[b]``.
        Also when ``(sI - W∘W)^{-1}`` overflows the dtype (flagged like a point outside the domain
        with ``check_domain="flag"``).

    Notes
    -----
    ``M = sI - A`` (``A = W∘W``) has non-positive off-diagonal entries (a Z-matrix), and ``s`` is
    in the domain exactly when ``M`` is a nonsingular M-matrix.  ``log det M`` is the sum of the
    logarithms of the pivots of an LU factorisation *without* pivoting (recursive, BLAS ``trsm`` and
    ``gemm``), which is stable for M-matrices and never cancels off the diagonal; ``trtri`` and
    ``trsm`` then give ``M^{-1} = U^{-1} L^{-1}`` for the gradient.

    Domain test: a Z-matrix is a nonsingular M-matrix iff all its leading principal minors are
    positive, i.e. iff every pivot of its LU factorisation without pivoting is positive (Berman &
    Plemmons 1994, chapter 6); the factorisation stops at the first pivot that is not, so a matrix
    outside the domain costs less than one inside.  In floating point the off-diagonal signs of
    the factors are exact (their updates never cancel), so only a pivot can be wrong, by at most
    about ``2 (d + 1) eps s``; pivots below that margin count as outside ("numerically on the
    boundary": ``s`` within a relative ``~d eps`` of ``rho(W∘W)``).  The factorisation is
    backward stable for M-matrices, so an accepted ``W`` is in the domain up to a perturbation
    of the order of rounding.  Unlike checking ``(sI - W∘W)^{-1} >= 0``, the test needs no
    tolerance on entries that are exactly 0 and works for arbitrarily ill-conditioned ``M``.

    Cost: ``O(d^3)``: ``2/3 d^3`` flops for the LU and ``4/3 d^3`` for the inverse (together one
    matrix product's worth of flops).  ``h`` is accurate in absolute terms (about ``d`` rounding
    units: it sums ``d`` logarithms), and exactly 0 for DAGs, whose pivots are all exactly ``s``.

    References
    ----------
    .. [1] K. Bello, B. Aragam, P. Ravikumar, "DAGMA: Learning DAGs via M-matrices and a
       log-determinant acyclicity characterization", NeurIPS 2022, arXiv:2209.08037.
    .. [2] A. Berman, R. J. Plemmons, "Nonnegative Matrices in the Mathematical Sciences", SIAM 1994
       (chapter 6: nonsingular M-matrices and inverse-positivity).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.acyclicity import logdet_constraint
    >>> W = np.array([[0.0, 0.5], [0.5, 0.0]])  # a 2-cycle; rho(W∘W) = 0.25
    >>> h, grad = logdet_constraint(W, s=1.0)
    >>> round(float(h), 6)  # -log(1 - 0.25^2)
    0.064539
    >>> h, grad = logdet_constraint(W, s=0.2, check_domain="flag")
    >>> float(h)
    inf
    """
    s = check_float(s, "s", low=0.0, low_inclusive=False)
    flag = check_option(check_domain, "check_domain", ["raise", "flag"]) == "flag"
    if is_device_array(W):
        return _gpu_acyclicity.logdet_constraint(W, s, flag)
    W3, batched = _prepare(W)
    h, grad = _core.logdet_constraint(W3, s, flag)
    return _finish(h, grad, batched)


def poly_constraint(W: Any):
    """DAG-GNN polynomial constraint ``h(W) = tr((I + W∘W/d)^d) - d`` and its gradient.

    Parameters
    ----------
    W : array_like of shape (d, d) or (B, d, d)
        Weighted adjacency matrix (``W[i, j] != 0`` is the edge ``i -> j``), or a stack of them.

    Returns
    -------
    h : float scalar of W's dtype, or ndarray of shape (B,)
        ``>= 0``; exactly zero for acyclic graphs.
    grad : ndarray of shape (d, d) or (B, d, d)
        ``dh/dW = 2W ∘ ((I + W∘W/d)^{d-1})^T`` (from ``d tr(P^d) = d tr(P^{d-1} dP)`` with
        ``dP = 2 W∘dW / d``).

    Raises
    ------
    ValueError, TypeError
        Bad ``W`` (see :func:`expm_constraint`).
    fastcrl.NumericalError
        If the matrix power overflows the dtype.

    Notes
    -----
    ``G = (I + A/d)^{d-1}`` (then ``h = tr(G (I + A/d)) - d`` in ``O(d^2)``) is computed by the
    cheapest of three methods, by count of ``d x d`` products:

    * an addition chain from Knuth's power tree (13 products for ``d = 1000``, which is optimal;
      binary powering needs 16), exact up to rounding;
    * the binomial series ``sum_k C(d-1, k) (A/d)^k`` truncated at degree ``K`` and evaluated by
      Paterson-Stockmeyer (about ``2 sqrt(K)`` products).  All terms are non-negative, so the
      tail is rigorously bounded, using exact norms of powers of ``A``; ``K`` is the least degree
      with a tail below the unit roundoff times ``||G||_1``.  For ``||W∘W||_1`` of order one this
      needs 6 or 7 products at any ``d``;
    * for larger norms, scaling and squaring: ``G = ((I + A/d)^a)^(2^s)`` with ``a = (d-1)/2^s``,
      the inner power by its binomial series ``sum_k C(a, k) (A/d)^k`` (non-negative up to the
      truncation degree, and the tail bound still holds), then ``s`` squarings.  Its cost depends on
      the norm, not on ``d``: at ``||W∘W||_1 = 30`` it takes 11 products at ``d = 1000`` (the chain
      13) and at ``d = 2000`` (the chain 15).

    All run on ``P^k - I`` (products as ``XY + X + Y``, squarings as ``XX + 2X``) and all quantities
    are non-negative, so
    there is no cancellation: small ``h`` keeps its relative accuracy and acyclic graphs give
    exactly ``h = 0`` and ``grad = 0``.

    Cost: ``O(d^3 min(log d, sqrt(K) + s))``.

    References
    ----------
    .. [1] Y. Yu, J. Chen, T. Gao, M. Yu, "DAG-GNN: DAG structure learning with graph neural
       networks", ICML 2019, arXiv:1904.10098.
    .. [2] D. E. Knuth, "The Art of Computer Programming", vol. 2, section 4.6.3 (power tree).
    .. [3] M. S. Paterson, L. J. Stockmeyer, "On the number of nonscalar multiplications necessary
       to evaluate polynomials", SIAM J. Comput. 2(1), 1973.

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.acyclicity import poly_constraint
    >>> h, grad = poly_constraint(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> float(h)  # tr((I + A/2)^2) - 2 with A the swap: 2 * (1/2)^2
    0.5
    """
    if is_device_array(W):
        return _gpu_acyclicity.poly_constraint(W)
    W3, batched = _prepare(W)
    h, grad = _core.poly_constraint(W3)
    return _finish(h, grad, batched)


def spectral_radius(W: Any, *, n_iter: int = 1000, tol: float = 1e-8, return_grad: bool = False):
    """Spectral radius (Perron root) of ``W∘W`` by shifted power iteration.

    Parameters
    ----------
    W : array_like of shape (d, d) or (B, d, d)
        Weighted adjacency matrix (``W[i, j] != 0`` is the edge ``i -> j``), or a stack of them.
    n_iter : int, default=1000
        Maximum power-iteration steps per strongly connected component.
    tol : float, default=1e-8
        Relative width of the bracket at which to stop, in (0, 1).
    return_grad : bool, default=False
        Also return the gradient ``d rho / dW``.

    Returns
    -------
    rho : float scalar of W's dtype, or ndarray of shape (B,)
        The midpoint of a rigorous bracket ``[lo, hi]`` around ``rho(W∘W)``; within
        ``tol * rho / 2`` of it on convergence.  Exactly 0 for acyclic graphs.
    grad : ndarray of shape (d, d) or (B, d, d)
        Only with ``return_grad``: ``2W ∘ v u^T / (v^T u)`` with ``u``, ``v`` the right and left
        Perron vectors of the dominant strongly connected component.  This is the derivative
        wherever ``rho`` is a simple eigenvalue (one dominant component); ``rho`` is not
        differentiable where two components tie, and the gradient returned for acyclic graphs is
        zero.

    Raises
    ------
    ValueError, TypeError
        Bad ``W`` (see :func:`expm_constraint`), ``n_iter < 1``, ``tol`` outside (0, 1).
    fastcrl.NumericalError
        If ``W∘W`` overflows float64 (weights above about ``1e154``; on the CPU only weights on a
        cycle count, on the GPU any weight), or ``rho`` overflows W's dtype.

    Warns
    -----
    RuntimeWarning
        When the bracket is still wider than ``tol`` after ``n_iter`` steps; the estimate is still
        inside the bracket, which the warning prints.

    Notes
    -----
    The graph is split into strongly connected components (Tarjan, ``O(d^2)``); ``rho`` is the
    largest of their Perron roots (a component of one node contributes its self-loop weight), so
    acyclic graphs give exactly 0 without iterating, and components whose row-sum bound is below an
    already bracketed root are skipped.  On an irreducible block ``B`` the iteration
    ``x <- (B + cI) x`` with shift ``c > 0`` (the current estimate) brackets the root at every step
    by the Collatz-Wielandt bounds ``min_i (Bx)_i/x_i <= rho <= max_i (Bx)_i/x_i``.  The shift makes
    ``rho + c`` the only dominant eigenvalue even for periodic blocks (a directed cycle, a bipartite
    block), on which plain power iteration oscillates forever.  Convergence is linear with rate
    ``max |lambda + c| / (rho + c)`` over the other eigenvalues ``lambda``: fast for dense weights,
    slow (``O(L^2)`` steps) for a long cycle of length ``L`` with nearly equal weights.

    Cost: ``O(d^2)`` per step (one matrix-vector product, two with ``return_grad``), computed in
    float64 for either dtype.

    On a CUDA device (CuPy input) the iteration runs on the whole matrix, without the split into
    strongly connected components.  It matches the CPU on strongly connected graphs and on acyclic
    ones: an acyclic graph is recognised exactly once the ``n_iter`` steps are spent (by
    ``ceil(log2 d)`` boolean squarings of the zero pattern of ``W∘W``) and gives ``rho = 0`` and a
    zero gradient.  On other reducible graphs the bracket usually does not close (its lower end
    stays at a smaller component's root, 0 when a node has no out-edge): the result is then the
    midpoint of the rigorous bracket ``[lo, hi]``, with the RuntimeWarning, and the gradient is not
    the dominant component's.  Pass a NumPy array for those graphs.

    References
    ----------
    .. [1] R. S. Varga, "Matrix Iterative Analysis", Springer 2000, section 8.1 (Collatz-Wielandt).
    .. [2] H.-C. Lee, M. Danieletto, R. Miotto, S. T. Cherng, J. T. Dudley, "Scaling structural
       learning with NO-BEARS to infer causal transcriptome networks", PSB 2020 (spectral radius
       as an acyclicity measure).

    Examples
    --------
    >>> import numpy as np
    >>> from fastcrl.acyclicity import spectral_radius
    >>> C = np.roll(np.eye(4), 1, axis=1)  # the cycle 0 -> 1 -> 2 -> 3 -> 0 (period 4)
    >>> round(float(spectral_radius(2 * C)), 12)
    4.0
    >>> float(spectral_radius(np.triu(np.ones((4, 4)), k=1)))  # a DAG
    0.0
    """
    n_iter = check_int(n_iter, "n_iter", low=1)
    tol = check_float(tol, "tol", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if not isinstance(return_grad, (bool, np.bool_)):
        raise TypeError(f"return_grad must be a bool; got {type(return_grad).__name__}")
    if is_device_array(W):
        return _gpu_acyclicity.spectral_radius(W, n_iter, tol, bool(return_grad))
    W3, batched = _prepare(W)
    rho, lo, hi, _, grad = _core.spectral_radius(W3, n_iter, tol, bool(return_grad))
    wide = hi - lo > tol * hi
    if np.any(wide):
        b = int(np.argmax(np.where(wide, (hi - lo) / np.where(hi > 0, hi, 1.0), -1.0)))
        where = f"W[{b}]: " if batched else ""
        warnings.warn(
            f"spectral_radius: {where}power iteration did not reach tol={tol:g} in "
            f"n_iter={n_iter} steps; rho(W∘W) is in [{lo[b]:.10g}, {hi[b]:.10g}] (increase "
            "n_iter; slow convergence comes from nearly periodic components such as long cycles "
            "with similar weights)",
            RuntimeWarning,
            stacklevel=2,
        )
    if not batched:
        rho = rho[0]
        grad = None if grad is None else grad[0]
    return (rho, grad) if return_grad else rho
