"""Function families whose members are generated from a few parameters (degrees, gates).

* :mod:`funclib.families.pau` — Padé activation units of any degrees and their coefficient
  derivatives.
* :mod:`funclib.families.gates` — NumPy references for the gates that are not elementwise
  (GLU half split, DSelect-k binary-encoded gate, noisy top-k gate, z-loss).
"""
