"""One CPU-time limit for SymPy calls that can run away (limits, simplifications).

The limit counts the process's CPU time, not wall time: what a guarded call computes (a
kernel's limits at ±inf, a proof step) must not depend on how busy the machine is. With a
wall-clock limit a kernel generated while other processes ran could lose its limit patches
(``sign_relu_plus``'s derivative was NaN at ±1e300 when the limit search timed out) and keep
them lost in the kernel cache.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["TimeLimitExceeded", "time_limit"]

#: The timer: user CPU time of the process (SIGVTALRM, which profilers and test timeouts leave alone).
_TIMER = getattr(signal, "ITIMER_VIRTUAL", None)
#: Smallest timer value: 0 would disarm the timer.
_TICK = 1e-6


class TimeLimitExceeded(Exception):
    """The guarded call ran past its time limit."""


def _raise(signum, frame):
    raise TimeLimitExceeded()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TimeLimitExceeded` in the guarded block after ``seconds`` of CPU time.

    Parameters
    ----------
    seconds : float
        The budget, in CPU seconds of the process (user time; on an idle machine about the
        same as wall seconds).

    Notes
    -----
    Timer-signal based (``ITIMER_VIRTUAL``), so only effective in the main thread of a POSIX
    process; elsewhere the block runs without a limit (callers must still terminate, just
    more slowly). Limits nest: an inner block gets at most what is left of the outer one's
    budget, and the outer timer keeps running after it (less what the inner block used).
    CPU time of other threads of the process counts too.
    """
    if threading.current_thread() is not threading.main_thread() or _TIMER is None:
        yield
        return
    outer, _ = signal.getitimer(_TIMER)
    budget = min(seconds, outer) if outer > 0 else seconds
    previous = signal.signal(signal.SIGVTALRM, _raise)
    signal.setitimer(_TIMER, max(budget, _TICK))
    try:
        yield
    finally:
        left, _ = signal.getitimer(_TIMER)
        signal.setitimer(_TIMER, 0)
        signal.signal(signal.SIGVTALRM, previous)
        if outer > 0:  # the outer block's timer goes on with what it has left
            used = budget - left if left > 0 else budget
            signal.setitimer(_TIMER, max(outer - used, _TICK))
