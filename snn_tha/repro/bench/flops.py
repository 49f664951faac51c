"""What a bench step computes: nominal FLOPs of the per-step algorithm, the FLOPs a step really
executes (torch's FlopCounterMode; int8 matmuls and oneDNN's linear count as 2*m*k*n, the
sparse spike kernels as 2 * nonzeros * outputs and the integer box convolution as the float
convolution it replaces: `sparse_linear.counting_flops`), and this machine's fp32 matmul peak
that they are divided by."""
import time

import torch

from snn_tha.models import ARCHITECTURES


def nominal_flops(net, case):
    """2 * multiply-adds of forward + backward (3x forward) of the per-step algorithm."""
    macs, shape = 0, ARCHITECTURES[case.net.arch].input_shape
    for block in net.blocks:
        if hasattr(block, "conv"):
            c = block.conv
            h, w = shape[1] - c.kernel_size[0] + 1, shape[2] - c.kernel_size[1] + 1
            macs += c.out_channels * h * w * c.in_channels * c.kernel_size[0] * c.kernel_size[1]
            shape = (c.out_channels, h // 2, w // 2)
        else:
            macs += block.fc.in_features * block.fc.out_features
    return 2 * 3 * macs * case.num_steps * case.batch


def _int_mm_flops(a_shape, b_shape, *args, out_shape=None, **kwargs):
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _onednn_linear_flops(x_shape, w_shape, *args, out_shape=None, **kwargs):
    return 2 * x_shape[0] * x_shape[1] * w_shape[0]


def executed_flops(step):
    """FLOPs of the matmuls and convolutions one call of `step` runs (torch's FlopCounterMode),
    and of the sparse spike kernels."""
    from torch.utils import flop_counter
    from snn_tha.kernels import dense, sparse_linear
    if torch.ops.aten._int_mm not in flop_counter.flop_registry:
        flop_counter.register_flop_formula(torch.ops.aten._int_mm)(_int_mm_flops)
    linear = dense.onednn_linear()
    if linear is not None and linear not in flop_counter.flop_registry:
        flop_counter.register_flop_formula(linear)(_onednn_linear_flops)
    with flop_counter.FlopCounterMode(display=False) as counter, \
            sparse_linear.counting_flops() as sparse:
        step()
    return counter.get_total_flops() + sparse[0]


def _best_gflops(product, n, repeats, device):
    product()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        product()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / min(times) / 1e9


def matmul_peak_gflops(n=2048, repeats=5, device="cpu"):
    """GFLOP/s of fp32 products of two n x n matrices: the faster of torch.mm and, on the CPU,
    oneDNN's linear (torch.mm calls MKL, which on AMD processors runs its AVX2 code: on an
    AVX-512 EPYC 2.2x slower than oneDNN, `dense`)."""
    from snn_tha.kernels import dense
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = _best_gflops(lambda: a @ b, n, repeats, device)
    if peak_reads_onednn(device):
        b_t = b.t().contiguous()
        best = max(best, _best_gflops(lambda: dense.rows_times(a, b_t), n, repeats, device))
    return best


def peak_reads_onednn(device):
    """Whether `matmul_peak_gflops` times oneDNN's linear beside torch.mm."""
    from snn_tha.kernels import dense
    return device == "cpu" and dense.onednn_linear() is not None


def peak_words(machine, rows):
    """How the matmul peak was read: once at the start (files before 2026-12-04 evening), or
    after every round of repeats, each network's share divided by its rounds' median."""
    readings = machine.get("matmul_peak_readings")
    if not readings:
        return f"measured fp32 matmul peak {machine['matmul_peak_gflops']} GFLOP/s."
    per_network = {r["network"]: r["matmul_peak_gflops"] for r in rows}
    both = ", the faster of torch.mm and oneDNN's linear" if machine.get("peak_of_onednn") else ""
    return (f"fp32 matmul peak (products of 2048 x 2048 matrices{both}) read at the start and "
            f"after every round of repeats: {min(readings)}-{max(readings)} GFLOP/s; each "
            f"network's share divides by the median of its own rounds' readings ("
            + ", ".join(f"{name} {peak}" for name, peak in per_network.items()) + ").")
