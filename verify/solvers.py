"""SDP solvers for the LipSDP LMI and the policy that picks one.

Two routes:

- ``structured``: funclib's own primal-dual interior-point method on the low-rank LMI data
  (:mod:`funclib.verify.barrier`); NumPy/SciPy only, fast on large networks.
- any cvxpy solver: the LMI is handed to cvxpy as the affine matrix function
  ``vec(S) = s_0 + F y`` with sparse ``F`` (:meth:`~funclib.verify.structure.LipSDP.vec_map`), a
  single sparse matrix-vector product, never as products of cvxpy expressions. The solve runs
  in a forked child process so that the per-call time limit holds for every solver (SDPA and
  CVXOPT have none of their own).

Policy for ``solver="auto"``: Schur-complement interior-point solvers first (SDPA via
``sdpa-python``, CVXOPT), then MOSEK if installed, Clarabel only for small LMIs, SCS only for
very large ones (where the structured solver is used by default). Above ``CVXPY_MAX_N`` the
structured solver is used.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .structure import LipSDP

__all__ = ["SolveOutcome", "available_solvers", "solver_plan", "solve", "SOLVED", "CVXPY_MAX_N"]

#: Statuses whose multipliers are worth certifying.
SOLVED = ("optimal", "optimal_inaccurate")
#: Largest LMI size handed to a cvxpy solver by the automatic policy.
CVXPY_MAX_N = 160
_CLARABEL_MAX_N = 60
_SCS_MIN_N = 2000


@dataclass
class SolveOutcome:
    solver: str
    status: str
    y: np.ndarray | None  # multipliers of the (reduced) LMI
    value: float | None  # the solver's ρ
    seconds: float
    lower: float | None = None  # dual lower bound on ρ* (structured solver)
    message: str = ""
    iterations: int | None = None


def _cvxpy():
    try:
        import cvxpy
    except ImportError:
        return None
    return cvxpy


def available_solvers() -> list[str]:
    """``structured`` plus the cvxpy SDP solvers that are installed."""
    cp = _cvxpy()
    names = ["structured"]
    if cp is not None:
        installed = set(cp.installed_solvers())
        names += [s for s in ("SDPA", "CVXOPT", "MOSEK", "CLARABEL", "SCS") if s in installed]
    return names


def solver_plan(n: int, solver: str = "auto") -> list[str]:
    """The solvers to try, in order, for an LMI of size ``n`` (cvxpy is imported only when a
    cvxpy solver may be used: importing it takes seconds)."""
    if solver.lower() == "structured" or (solver == "auto" and CVXPY_MAX_N < n < _SCS_MIN_N):
        return ["structured"]
    avail = available_solvers()
    if solver != "auto":
        name = "structured" if solver.lower() == "structured" else solver.upper()
        if name not in avail:
            raise ValueError(f"solver {solver!r} is not available (available: {', '.join(avail)})")
        return [name]
    plan = []
    if n <= CVXPY_MAX_N:
        for s in ("SDPA", "CVXOPT", "MOSEK"):
            if s in avail:
                plan.append(s)
        if n <= _CLARABEL_MAX_N and "CLARABEL" in avail:
            plan.append("CLARABEL")
    plan.append("structured")
    if n >= _SCS_MIN_N and "SCS" in avail:
        plan.append("SCS")
    return plan


def _cvxpy_child(conn, lmi_data, solver, time_limit, verbose):
    try:
        import os
        import warnings

        if not verbose:  # SDPA's C++ code prints to the process's own stdout/stderr
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            warnings.simplefilter("ignore")
        import cvxpy as cp

        s0, F, n, sign = lmi_data
        y = cp.Variable(F.shape[1])
        S = cp.reshape(F @ y + s0, (n, n), order="F")
        cons = [S >> 0]
        idx = np.flatnonzero(sign)
        if idx.size:
            cons.append(y[idx] >= 0)
        prob = cp.Problem(cp.Minimize(y[0]), cons)
        kwargs = {}
        if solver == "SCS":
            kwargs = {"eps": 1e-7, "max_iters": 200000}
            if time_limit:
                kwargs["time_limit_secs"] = float(time_limit)
        elif solver == "CLARABEL" and time_limit:
            kwargs = {"time_limit": float(time_limit)}
        prob.solve(solver=solver, verbose=verbose, **kwargs)
        conn.send((str(prob.status), None if y.value is None else np.asarray(y.value, dtype=float),
                   None if prob.value is None else float(prob.value), ""))
    except Exception as exc:  # reported to the parent, which decides
        conn.send(("solver_error", None, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def solve_cvxpy(lmi: LipSDP, solver: str, time_limit: float | None = None, verbose: bool = False) -> SolveOutcome:
    """Solve with a cvxpy solver in a forked child (hard time limit)."""
    if _cvxpy() is None:
        raise ValueError("cvxpy is not installed; use solver='structured'")
    start = time.perf_counter()
    s0, F = lmi.vec_map()
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_cvxpy_child, args=(child, (s0, F, lmi.n, lmi.sign), solver, time_limit, verbose))
    proc.start()
    child.close()
    limit = None if time_limit is None else 1.1 * max(float(time_limit), 0.0) + 2.0
    got = parent.poll(limit)
    if not got:
        proc.kill()
        proc.join()
        return SolveOutcome(solver, "time_limit", None, None, time.perf_counter() - start,
                            message=f"no answer within the time limit ({time_limit} s)")
    try:
        status, y, value, message = parent.recv()
    except EOFError:
        status, y, value, message = "solver_error", None, None, "the solver process died"
    proc.join()
    return SolveOutcome(solver, status, y, value, time.perf_counter() - start, message=message)


def solve(
    lmi: LipSDP,
    y_start: np.ndarray,
    solver: str,
    *,
    time_limit: float | None = None,
    rel_gap: float = 1e-3,
    progress: Callable[[dict], None] | None = None,
    verbose: bool = False,
) -> SolveOutcome:
    """Run one solver on the (reduced) LMI; ``y_start`` is a strictly feasible point."""
    if solver == "structured":
        from .barrier import solve_structured

        r = solve_structured(lmi, y_start, rel_gap=rel_gap, time_limit=time_limit, progress=progress)
        status = {"optimal": "optimal"}.get(r.status, r.status)
        if r.status in ("iteration_limit", "stalled") and r.lower is not None and (r.rho - r.lower) / r.rho <= 10 * rel_gap:
            status = "optimal_inaccurate"
        return SolveOutcome("structured", status, r.y, r.rho, r.seconds, lower=r.lower, iterations=r.iterations)
    if progress is not None:
        progress({"message": f"solving the {lmi.n}x{lmi.n} LMI with {solver} (cvxpy)"})
    out = solve_cvxpy(lmi, solver, time_limit=time_limit, verbose=verbose)
    if out.y is not None and out.value is not None and not math.isfinite(out.value):
        out.status = "solver_error"
    return out
