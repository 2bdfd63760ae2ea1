"""Which kind of machine recorded a set of golden outputs.

The last bits of the golden outputs depend on the instructions the machine's libraries pick at
run time: numba compiles for the host CPU, numpy and OpenBLAS dispatch on its SIMD extensions. An
Intel machine, an AMD Zen 3 (AVX2) and an AMD Zen 4 (AVX-512) each gave different last bits for
the same code, so each kind keeps its own set, under ``tests/golden/<kind>/``.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine_kind():
    """The host CPU as LLVM (numba's compiler) names it, e.g. ``znver3``, with ``-avx512`` when
    the CPU has AVX-512 (numpy's and OpenBLAS's widest kernels)."""
    import llvmlite.binding as llvm

    name = llvm.get_host_cpu_name()
    avx512 = "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
    return f"{name}-avx512" if avx512 else name


def golden_dir(kind=None):
    return HERE / (kind or machine_kind())
