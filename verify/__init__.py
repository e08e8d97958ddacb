"""funclib.verify: certified Lipschitz bounds of networks built from catalog functions.

>>> import numpy as np
>>> from funclib.verify import Network, lipschitz
>>> net = Network([np.eye(2), np.eye(2)], "maxmin")
>>> round(lipschitz(net, lower=False).value, 6)
1.0

The pipeline (LipSDP, Fazlyab et al. 2019; grouped activations after Pauli et al. 2024):
slope bounds from the catalog's proofs, the LMI as structured sparse data, exact reductions,
a solve, then certification of the returned multipliers in float64 (Cholesky with rounding
margins), and a sandwich of naive, closed-form and lower bounds. See ``docs/verify.md``.
"""

from .activations import (
    Activation,
    EstimatedBoundError,
    NotSlopeRestrictedError,
    SlopeBound,
    activation,
    slope_bound,
)
from .api import lipschitz
from .certify import Certificate, VerificationError, certify
from .loaders import from_torch, load, load_mat, load_npz, save_npz
from .lower import exact_lipschitz_pl, jacobian, lower_bound
from .network import Network, NetworkError
from .result import LipschitzResult
from .solvers import available_solvers
from .structure import LipSDP

__all__ = [
    "Activation",
    "Certificate",
    "EstimatedBoundError",
    "LipSDP",
    "LipschitzResult",
    "Network",
    "NetworkError",
    "NotSlopeRestrictedError",
    "SlopeBound",
    "VerificationError",
    "activation",
    "available_solvers",
    "certify",
    "exact_lipschitz_pl",
    "from_torch",
    "jacobian",
    "lipschitz",
    "load",
    "load_mat",
    "load_npz",
    "lower_bound",
    "save_npz",
    "slope_bound",
]
