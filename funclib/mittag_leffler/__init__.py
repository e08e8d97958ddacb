r"""The two-parameter Mittag-Leffler function :math:`E_{\alpha,\beta}(z)`.

.. math::

    E_{\alpha,\beta}(z) = \sum_{k=0}^{\infty} \frac{z^k}{\Gamma(\alpha k + \beta)},
    \qquad \alpha > 0,\ \beta \in \mathbb{R},

an entire function of :math:`z` that generalizes :math:`e^z = E_{1,1}(z)`. For
:math:`\alpha = 0` the series is geometric; funclib defines
:math:`E_{0,\beta}(z) = 1/((1-z)\Gamma(\beta))` for every :math:`z \ne 1`, the analytic
continuation of the series beyond :math:`|z| < 1` (this is how the unified gated activations
write the sigmoid, :math:`\sigma(x) = E_{0,1}(-e^{-x})`, for every real :math:`x`).

Neither SymPy nor mpmath has it. This module gives

* :class:`mittag_leffler`, a SymPy function with the exact derivative
  :math:`E'_{\alpha,\beta} = [E_{\alpha,\alpha+\beta-1} + (1-\beta) E_{\alpha,\alpha+\beta}]/\alpha`
  (and :math:`E'_{0,\beta} = \Gamma(\beta) E_{0,\beta}^2`), exact special values, closed-form
  rewrites (:func:`closed_form`), LaTeX printing and the two numeric evaluators below;
* :func:`mittag_leffler_mp`, arbitrary precision (mpmath): the power series with a rigorous
  tail bound and guard digits for the cancellation at negative :math:`z`, the asymptotic
  expansion for large :math:`|z|^{1/\alpha}`, and the inversion of the Laplace transform
  :math:`s^{\alpha-\beta}/(s^\alpha - z)` (Hankel contour collapsed onto the branch cut, plus
  the residues of the poles) where neither is cheap;
* :func:`mittag_leffler_np`, a vectorized float64 evaluator: Garrappa's inversion of the
  Laplace transform on optimal parabolic contours [2]_, with the residues of the poles taken
  in double-double arithmetic, and short series / asymptotic expansions where they are
  accurate to the last bits.

Closed forms used both symbolically and as fast numeric paths (each verified to 30 digits
against the general algorithm in ``tests/test_mittag_leffler.py``):

======================  ==============================================================================================
:math:`(\alpha,\beta)`  :math:`E_{\alpha,\beta}(z)`
======================  ==============================================================================================
(0, β)                  :math:`1/((1-z)\Gamma(\beta))`
(1, 1)                  :math:`e^z`
(1, 2)                  :math:`(e^z-1)/z`
(2, 1)                  :math:`\cosh\sqrt{z}` (:math:`\cosh u` at :math:`z = u^2`)
(2, 2)                  :math:`\sinh\sqrt{z}/\sqrt{z}` (:math:`\sinh u/u` at :math:`z = u^2`)
(1/2, 1)                :math:`e^{z^2}\operatorname{erfc}(-z)`
(1/2, 1/2)              :math:`1/\sqrt{\pi} + z\,e^{z^2}\operatorname{erfc}(-z)`
(α, β ± nα)             from the above by :math:`E_{\alpha,\beta}(z) = 1/\Gamma(\beta) + z E_{\alpha,\alpha+\beta}(z)`
======================  ==============================================================================================

References
----------
.. [1] R. Gorenflo, A. A. Kilbas, F. Mainardi, S. V. Rogosin, *Mittag-Leffler Functions,
   Related Topics and Applications*, Springer, 2nd ed. 2020 (series, recurrences, derivative,
   asymptotic expansion (4.7.4)-(4.7.5)).
.. [2] R. Garrappa, "Numerical evaluation of two and three parameter Mittag-Leffler
   functions", SIAM J. Numer. Anal. 53(3):1350-1369, 2015, doi:10.1137/140971191.
.. [3] J. A. C. Weideman, L. N. Trefethen, "Parabolic and hyperbolic contours for computing
   the Bromwich integral", Math. Comp. 76:1341-1356, 2007.
"""

from __future__ import annotations

from .float64 import mittag_leffler_np
from .mp import MittagLefflerError, mittag_leffler_mp
from .symbolic import closed_form, eliminate, mittag_leffler

__all__ = [
    "mittag_leffler",
    "mittag_leffler_mp",
    "mittag_leffler_np",
    "closed_form",
    "eliminate",
    "MittagLefflerError",
]

