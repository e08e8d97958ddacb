"""funclib.timelimit: a CPU-time limit that nests (the budget of kernel limits and proof steps)."""

from __future__ import annotations

import threading
import time

import pytest

from funclib.timelimit import TimeLimitExceeded, time_limit


def _spin(seconds: float) -> None:
    """Burn ``seconds`` of CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_busy_block_is_stopped_after_its_cpu_budget():
    start = time.process_time()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.05):
            _spin(5.0)
    assert time.process_time() - start < 1.0


def test_waiting_costs_no_budget():
    """Wall time spent waiting (or by other processes on a busy machine) does not count."""
    with time_limit(0.05):
        time.sleep(0.2)
        _spin(0.01)


def test_inner_limit_gets_at_most_what_the_outer_has_left():
    start = time.process_time()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.1):
            with time_limit(30.0):
                _spin(5.0)
    assert time.process_time() - start < 1.0


def test_outer_limit_keeps_running_after_an_inner_block():
    start = time.process_time()
    with pytest.raises(TimeLimitExceeded):
        with time_limit(0.15):
            with time_limit(0.05):
                _spin(0.01)  # ends well within both budgets
            _spin(5.0)  # the outer budget must still stop this
    assert time.process_time() - start < 1.0


def test_no_timer_is_left_running():
    with time_limit(0.05):
        _spin(0.01)
    _spin(0.1)  # past the budget: nothing fires outside the block


def test_other_threads_run_without_limit():
    outcome = []

    def work():
        with time_limit(0.01):
            time.sleep(0.05)
            outcome.append("done")

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert outcome == ["done"]
