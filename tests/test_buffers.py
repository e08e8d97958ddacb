"""The output pool (funclib.kernels.buffers): memory is reused only when no array refers to it."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

import funclib
from funclib.kernels import buffers

SHAPE = (512, 1024)  # 2 MiB in float32: above MIN_BYTES


@pytest.fixture(autouse=True)
def fresh_pool():
    old = buffers.limit_bytes()
    buffers.clear()
    buffers.set_limit_bytes(64 << 20)
    yield
    buffers.set_limit_bytes(old)
    buffers.clear()


def test_dropped_output_memory_is_reused():
    a = buffers.empty(SHAPE, np.float32)
    ptr = a.ctypes.data
    del a
    b = buffers.empty(SHAPE, np.float32)
    assert b.ctypes.data == ptr and b.shape == SHAPE and b.dtype == np.float32 and b.flags.writeable


@pytest.mark.parametrize("holder", ["array", "slice", "memoryview", "torch"])
def test_memory_in_use_is_never_handed_out(holder):
    a = buffers.empty(SHAPE, np.float32)
    a[...] = 7.0
    if holder == "slice":
        keep = a[::3, 5:]
    elif holder == "memoryview":
        keep = memoryview(a)
    elif holder == "torch":
        torch = pytest.importorskip("torch")
        keep = torch.from_numpy(a)
    else:
        keep = a
    if holder != "array":
        del a
    gc.collect()
    b = buffers.empty(SHAPE, np.float32)
    b[...] = -1.0
    assert np.all(np.asarray(keep) == 7.0)


def test_alignment_order_and_small_arrays():
    for dtype in (np.float32, np.float64):
        for order in ("C", "F"):
            a = buffers.empty(SHAPE, dtype, order=order)
            assert a.ctypes.data % buffers.ALIGN == 0
            assert a.flags.c_contiguous if order == "C" else a.flags.f_contiguous
    small = buffers.empty((10,), np.float64)
    assert small.base is None  # NumPy's own allocation


def test_limit_is_respected_and_zero_turns_the_pool_off():
    buffers.set_limit_bytes(5 << 20)
    held = [buffers.empty(SHAPE, np.float32) for _ in range(4)]  # 4 x 2 MiB: only two fit
    assert buffers.pooled_bytes() <= 5 << 20
    del held
    buffers.set_limit_bytes(0)
    assert buffers.pooled_bytes() == 0
    a = buffers.empty(SHAPE, np.float32)
    assert a.base is None and buffers.pooled_bytes() == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_bad_limits_are_refused(bad):
    with pytest.raises(ValueError, match="limit"):
        buffers.set_limit_bytes(bad)


@pytest.mark.parametrize("text", ["lots", "-3", "nan", "inf"])
def test_bad_environment_limit_is_refused(monkeypatch, text):
    monkeypatch.setenv("FUNCLIB_OUTPUT_POOL_MB", text)
    with pytest.raises(ValueError, match="FUNCLIB_OUTPUT_POOL_MB"):
        buffers._env_limit()


def test_kernel_outputs_reuse_dropped_memory_and_stay_distinct_while_held():
    k = funclib.get("silu").kernel(dtype="float32")
    x = np.linspace(-8, 8, 1 << 19, dtype=np.float32)
    y, dy = k(x)
    first = {y.ctypes.data, dy.ctypes.data}
    want = (y.copy(), dy.copy())
    y2, dy2 = k(x)  # the first outputs are still held: new memory
    second = {y2.ctypes.data, dy2.ctypes.data}
    assert not first & second and len(first) == len(second) == 2
    np.testing.assert_array_equal(y, want[0])
    del y, dy, y2, dy2
    y3, dy3 = k(x)
    assert {y3.ctypes.data, dy3.ctypes.data} <= first | second
    np.testing.assert_array_equal(y3, want[0])
    np.testing.assert_array_equal(dy3, want[1])


def test_rowwise_outputs_use_the_pool():
    from funclib.kernels import rowwise as rw

    x = np.random.default_rng(0).standard_normal((256, 2048)).astype(np.float32)
    y = rw.softmax(x)
    ptr = y.ctypes.data
    ref = y.copy()
    del y
    y = rw.softmax(x)
    assert y.ctypes.data == ptr
    np.testing.assert_array_equal(y, ref)


def test_threads_never_share_live_buffers():
    seen: list[tuple[int, int]] = []
    errors: list[str] = []

    def work(tag: int):
        for _ in range(50):
            a = buffers.empty(SHAPE, np.float32)
            a[...] = tag
            time.sleep(0)  # let the other threads run while this buffer is held
            if not np.all(a == tag):
                errors.append(f"thread {tag} saw another thread's writes")
            seen.append((tag, a.ctypes.data))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(seen) == 200
