"""The CUDA fused LIF kernel in Triton: one program per block of neurons, serial over time,
forward and backward in one pass each (semantics of `lif_cpu.cpp` / `snn_tha.functional.equations`).

Kernels are built at first use; with TRITON_INTERPRET=1 set before Triton is imported they run
in Triton's interpreter on CPU tensors, which is how they are tested without a GPU. Launches pass
`enable_fp_fusion=False` (no fused multiply-add, as torch's separate mul and add kernels) and
divide with `div_rn` (IEEE rounding, as torch), so spikes and membranes match torch on CUDA.
"""
import functools

import triton
import triton.language as tl

BLOCK = 256


def _forward_kernel(cur_ptr, mem_ptr, spk_ptr, steps, n, beta, theta,
                    STATIC: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    prev = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(steps):
        row = tl.cast(t, tl.int64) * n
        if STATIC:
            c = tl.load(cur_ptr + offs, mask=mask, other=0.0)
        else:
            c = tl.load(cur_ptr + row + offs, mask=mask, other=0.0)
        u = beta * prev + c
        u = tl.where(prev > theta, u - theta, u)
        tl.store(mem_ptr + row + offs, u, mask=mask)
        tl.store(spk_ptr + row + offs, tl.where(u > theta, 1.0, 0.0), mask=mask)
        prev = u


def _backward_kernel(mem_ptr, gspk_ptr, gmem_ptr, out_ptr, steps, n, beta, centre, slope,
                     HAS_GSPK: tl.constexpr, HAS_GMEM: tl.constexpr,
                     SUM_TIME: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    delta = tl.zeros([BLOCK], dtype=tl.float32)
    total = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(steps):
        t = steps - 1 - i
        row = tl.cast(t, tl.int64) * n
        g = delta * beta  # delta is 0 at the last step
        if HAS_GMEM:
            g = g + tl.load(gmem_ptr + row + offs, mask=mask, other=0.0)
        if HAS_GSPK:
            u = tl.load(mem_ptr + row + offs, mask=mask, other=0.0)
            d = tl.abs(u - centre) * slope + 1.0
            g = g + tl.math.div_rn(tl.load(gspk_ptr + row + offs, mask=mask, other=0.0), d * d)
        delta = g
        if SUM_TIME:
            total = total + g
        else:
            tl.store(out_ptr + row + offs, g, mask=mask)
    if SUM_TIME:
        tl.store(out_ptr + offs, total, mask=mask)


@functools.cache
def kernels():
    """(forward, backward) as Triton kernels; interpreted on CPU tensors when Triton was
    imported with TRITON_INTERPRET=1 (its interpreter patches `tl` at import)."""
    return triton.jit(_forward_kernel), triton.jit(_backward_kernel)


def _launch_options():
    return {} if triton.knobs.runtime.interpret else {"enable_fp_fusion": False}


def _grid(n):
    return ((n + BLOCK - 1) // BLOCK,)


def forward(current, mem, spk, steps, beta, theta, static):
    n = mem[0].numel()
    fwd, _ = kernels()
    fwd[_grid(n)](current, mem, spk, steps, n, beta, theta, STATIC=bool(static), BLOCK=BLOCK,
                  **_launch_options())


def backward(mem, grad_spk, grad_mem, out, beta, centre, slope, sum_time):
    steps, n = mem.shape[0], mem[0].numel()
    _, bwd = kernels()
    bwd[_grid(n)](mem, grad_spk if grad_spk is not None else mem,
                  grad_mem if grad_mem is not None else mem, out, steps, n, beta, centre, slope,
                  HAS_GSPK=grad_spk is not None, HAS_GMEM=grad_mem is not None,
                  SUM_TIME=bool(sum_time), BLOCK=BLOCK,
                  **_launch_options())
