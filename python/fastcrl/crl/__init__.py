"""Causal representation learning: recover latent causal variables (and their graph) from data.

* :class:`LinearInterventionalCRL` — linear mixing of a linear-Gaussian latent SCM, one
  single-node intervention per latent with unknown targets; closed form (Squires et al. 2023;
  Varıcı et al. 2025).
* :class:`NonstationaryICA` — linear ICA of sources whose variances change across segments, by joint
  diagonalisation of the segment covariances (Pham & Cardoso 2001; Cardoso & Souloumiac 1996).
* :class:`IVAE` — identifiable VAE: nonlinear ICA with a segment label as auxiliary variable
  (Khemakhem et al. 2020), trained on fastcrl's own C++ network kernels.
* :class:`LatentCausalDiscovery` — learn the latents with any of the above, then their causal graph
  with any fastcrl structure learner; evaluated up to the latents' order.

Adjacency convention, everywhere in fastcrl: ``A[i, j] != 0`` means the edge ``i -> j``.
"""

from __future__ import annotations

from .ica import ConvergenceWarning, NonstationaryICA, joint_diagonalize
from .ivae import IVAE
from .linear import IdentifiabilityWarning, LinearInterventionalCRL
from .pipeline import LatentCausalDiscovery

__all__ = [
    "ConvergenceWarning",
    "IVAE",
    "IdentifiabilityWarning",
    "LatentCausalDiscovery",
    "LinearInterventionalCRL",
    "NonstationaryICA",
    "joint_diagonalize",
]
