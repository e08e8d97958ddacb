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

from funclib.lazy import lazy_attributes

#: Public names and their modules, imported on first use (PEP 562): ``funclib lipschitz`` and
#: the CLI's other commands do not pay for SciPy and the solvers until they verify something.
_LAZY = {
    "Activation": "activations", "EstimatedBoundError": "activations",
    "NotSlopeRestrictedError": "activations", "SlopeBound": "activations",
    "activation": "activations", "slope_bound": "activations",
    "lipschitz": "api",
    "Certificate": "certify", "VerificationError": "certify", "certify": "certify",
    "from_torch": "torch_loader", "load": "loaders", "load_mat": "loaders", "load_npz": "loaders",
    "save_npz": "loaders", "load_onnx": "onnx_loader",
    "exact_lipschitz_pl": "lower", "jacobian": "lower", "lower_bound": "lower",
    "Network": "network", "NetworkError": "network",
    "LipschitzResult": "result",
    "RobustnessResult": "robustness", "robustness": "robustness",
    "available_solvers": "solvers",
    "LipSDP": "structure",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY)


__all__ = [
    "Activation",
    "Certificate",
    "EstimatedBoundError",
    "LipSDP",
    "LipschitzResult",
    "Network",
    "NetworkError",
    "NotSlopeRestrictedError",
    "RobustnessResult",
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
    "load_onnx",
    "lower_bound",
    "robustness",
    "save_npz",
    "slope_bound",
]
