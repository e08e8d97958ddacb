"""Second check of catalog entries against independent third-party code.

Framework built-ins (PyTorch, JAX, Keras) are checked to 1e-12 in
``tests/test_framework_agreement.py``. This file checks the ``implementations`` records of
other independent code, today the ``torch-activation`` package (PyPI, 1.0.0: about 400
activation modules written from the survey of Kunc & Kléma 2024). That code is a pointer, not
an authority: its modules compute textbook formulas in float64 without stable rewrites, and some
differ from the papers. So the comparison is at moderate inputs (|x| <= 20, kinks excluded) to a
relative tolerance of ``RTOL`` (or the record's own ``rtol``), value and autograd derivative,
and a record whose code computes a different function states it as data:

```toml
[[entry.implementations]]
framework = "torch_activation"
function = "torch_activation.HardELiSH"
kwargs = {}                     # constructor arguments
params = {}                     # the catalog parameters they correspond to
disagreement = "torch-activation's negative branch is x*sigmoid(x) ... ; the paper says ..."
```

A record with ``disagreement`` must really disagree (a strict expected failure), so a fixed
package shows up as a failure asking to delete the row.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

import funclib
import helpers

RTOL = 1e-9
INDEPENDENT = ("torch_activation",)

POINTS = np.array(
    [-20.0, -12.0, -7.5, -5.0, -3.3, -2.2, -1.7, -1.1, -0.8, -0.45, -0.3, -0.12, -0.03,
     0.02, 0.11, 0.35, 0.6, 0.9, 1.3, 1.9, 2.6, 3.7, 4.4, 6.1, 8.8, 13.0, 20.0]
)


def _records():
    out = []
    for entry in funclib.entries("elementwise"):
        for k, impl in enumerate(entry.implementations):
            if impl["framework"] not in INDEPENDENT:
                continue
            marks = []
            if impl.get("disagreement"):
                marks.append(pytest.mark.xfail(reason=impl["disagreement"], strict=True))
            short = impl["function"].rsplit(".", 1)[-1]
            out.append(pytest.param(entry, impl, id=f"{entry.id}-{short}-{k}", marks=marks))
    return out


RECORDS = _records()


def _module(impl):
    torch = pytest.importorskip("torch")
    pytest.importorskip(impl["function"].split(".")[0])
    module_name, _, attr = impl["function"].rpartition(".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns about its own optional imports
        cls = getattr(importlib.import_module(module_name), attr)
    torch.manual_seed(0)
    return cls(**(impl.get("kwargs") or {})).double().eval()


def _points(entry, variant, params):
    """POINTS inside the domain, away from the formula's kinks (derivatives differ there)."""
    bound = entry.with_params(**params) if params else entry
    kinks = helpers.kinks(entry, variant, params)
    keep = [x for x in POINTS if x in entry.domain and all(abs(x - k) > 1e-3 for k in kinks)]
    return bound, np.array(keep)


@pytest.mark.parametrize("entry, impl", RECORDS)
def test_value_and_derivative_agree(entry, impl):
    torch = pytest.importorskip("torch")
    module = _module(impl)
    variant = impl.get("variant")
    bound, x = _points(entry, variant, impl.get("params") or {})
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = module(t)
    (g,) = torch.autograd.grad(y, t, grad_outputs=torch.ones_like(y))
    got_value, got_slope = y.detach().numpy(), g.numpy()
    ref_value = bound.reference(x, variant=variant)
    ref_slope = bound.reference(x, variant=variant, order=1)
    rtol = float(impl.get("rtol", RTOL))
    for what, got, ref in (("value", got_value, ref_value), ("derivative", got_slope, ref_slope)):
        ok = np.isclose(got, ref, rtol=rtol, atol=rtol * 1e-3) | (np.isnan(got) & np.isnan(ref))
        assert ok.all(), (
            f"{entry.id} vs {impl['function']}: {what} differs at x = {x[~ok][:5].tolist()}: "
            f"theirs {got[~ok][:5].tolist()}, funclib {ref[~ok][:5].tolist()}"
        )


def test_every_record_names_independent_code():
    for param in RECORDS:
        entry, impl = param.values
        assert impl["function"].startswith(impl["framework"] + "."), (entry.id, impl["function"])
