"""Fast, exact kernels for time-first spiking layers.

Every rewrite here is algebraically exact. Bit-exact against the per-step reference loop
(`engine: reference`) only where the algebra guarantees it: the LIF recurrence itself (the same
elementwise operations, `snn_tha.functional.equations`), and currents of +-1 weights times spike
(integer-valued) inputs with no float bias. A dense layer's float bias is added inside the BLAS
kernel once over [T*B, N] here and per step by the loop, and where a kernel adds it depends on
the CPU: membranes then agree to ~1e-5 (tests: within 1e-4), and sums of float inputs (images,
gradients) to rounding.

- `lif_sequence`: the LIF recurrence of `equations.lif_membrane` as one autograd function whose
  forward saves only the membrane record and whose backward is the hand-written recursion
      delta[t] = dL/du[t] = gu[t] + gz[t] * sigma'(u[t] - c) + beta * delta[t+1]
  (the reset is detached, so no gradient flows through it, as in snnTorch). Both directions run
  in a fused kernel (`snn_tha.kernels.fused`: C++ on the CPU, Triton on CUDA) when one is available,
  else as torch operations per step; tests hold the kernels to the torch path.
- static inputs: a current that is the same at every step is passed once (`[B, ...]`);
  its gradient is the sum over steps of the per-step gradients.
- `snn_tha.kernels.pooled_conv`: a kxk convolution followed by 2x2 average pooling, over all
  time steps, as the 2x2 box mean of the input then one stride-2 kxk convolution (4x fewer
  multiplies than the loop's convolution then pooling), in chunks of time steps.
"""

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from snn_tha.kernels import box_conv, fused, popcount, random_masks
from snn_tha.kernels.layout import is_channels_last_sequence
from snn_tha.functional.equations import fast_sigmoid_grad, heaviside, lif_membrane


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, threshold, centre, slope, num_steps, backend):
        static = num_steps is not None
        shape = current.shape if static else current.shape[1:]
        steps = num_steps if static else current.shape[0]
        mem_rec = current.new_empty((steps, *shape))
        theta = float(threshold)  # float32 value, exact as a Python float
        kernel = fused.kernel_for(current, backend)
        if kernel is not None:  # one pass over the membrane per step, spikes in the same pass
            spk_rec = torch.empty_like(mem_rec)
            kernel.forward(current.contiguous(), mem_rec, spk_rec, steps, float(beta), theta,
                           static)
        else:
            prev = current.new_zeros(shape)
            for t in range(steps):  # Eq. 1-2 in place, one pass over the membrane per step
                prev = lif_membrane(prev, current if static else current[t], beta, theta,
                                    out=mem_rec[t])
            spk_rec = heaviside(mem_rec, theta)  # all steps at once
        ctx.save_for_backward(mem_rec, beta, centre)
        ctx.set_materialize_grads(False)  # an unused output's gradient arrives as None
        ctx.slope, ctx.static, ctx.kernel = slope, static, kernel
        return spk_rec, mem_rec

    @staticmethod
    def backward(ctx, grad_spk, grad_mem):
        mem_rec, beta, centre = ctx.saved_tensors
        if grad_spk is None and grad_mem is None:
            return None, None, None, None, None, None, None
        if ctx.kernel is not None:
            grad = mem_rec.new_empty(mem_rec.shape[1:] if ctx.static else mem_rec.shape)
            ctx.kernel.backward(mem_rec, _contiguous(grad_spk), _contiguous(grad_mem), grad,
                                float(beta), float(centre), ctx.slope, ctx.static)
            return grad, None, None, None, None, None, None
        # Same expression as the surrogate's backward (grad / (k|u - c| + 1)^2), all steps at once.
        from_spikes = None
        if grad_spk is not None:  # Eq. 8 for all steps at once, in place to save passes
            from_spikes = fast_sigmoid_grad(grad_spk, mem_rec, centre, ctx.slope, inplace=True)
        grad = torch.empty_like(mem_rec)
        beta = float(beta)
        delta = None
        # Terms summed in the order autograd accumulates them (membrane output, then the next
        # step, then the spike), so gradients are bit-identical to the per-step loop.
        for t in range(mem_rec.shape[0] - 1, -1, -1):
            out = grad[t]   # never write into the incoming gradients: they may be views
            if delta is not None:
                torch.mul(delta, beta, out=out)
                if grad_mem is not None:
                    out.add_(grad_mem[t])
            elif grad_mem is not None:
                out.copy_(grad_mem[t])
            else:
                out.zero_()
            if from_spikes is not None:
                out.add_(from_spikes[t])
            delta = out
        grad_current = grad.sum(0) if ctx.static else grad
        return grad_current, None, None, None, None, None, None


def _contiguous(t):
    return None if t is None else t.contiguous()


def lif_sequence(current, params, num_steps=None, backend=None):
    """Fused LIF over time: current `[T, B, ...]`, or `[B, ...]` with `num_steps` for a current
    that is the same at every step. Returns (spikes, membranes), each `[T, B, ...]`.
    `params`: a `functional.equations.LifParams`; `backend`: the kernel
    (`snn_tha.kernels.fused.CHOICES`, None = $SNN_THA_LIF_KERNEL)."""
    beta, threshold, centre, slope = params
    return _LIFSequence.apply(current, beta, threshold, centre, float(slope), num_steps, backend)


def lif_spikes(current, params, num_steps=None, backend=None):
    """Evaluation's LIF: the spikes of `lif_sequence` (the same C++ forward, the same operations)
    as uint8 `[T, B, ...]`, with no membrane record and no autograd; None where that kernel does
    not run here (CUDA, no compiler, `torch` chosen, autograd on): the caller runs `lif_sequence`."""
    if torch.is_grad_enabled() or current.device.type != "cpu":
        return None
    kernel = fused.kernel_for(current, backend)
    if kernel is None or not hasattr(kernel, "forward_spikes"):
        return None
    beta, threshold, _, _ = params
    static = num_steps is not None
    shape = current.shape if static else current.shape[1:]
    spikes = torch.empty((num_steps if static else current.shape[0], *shape), dtype=torch.uint8)
    kernel.forward_spikes(current.contiguous(), spikes, spikes.shape[0], float(beta),
                          float(threshold), static)
    return spikes


def neuron_counts(spikes):
    """Each neuron's spikes summed over time and batch, `[T, B, ...]` -> float32 `[N]` (exact:
    integers below 2**24). uint8 spikes (forward-only evaluation) are summed by numpy, whose
    integer reduction is ~15x faster here than torch's over uint8."""
    if is_channels_last_sequence(spikes):   # summed in storage order: torch's reduction over
        # the permuted view took 264 ms for layer 1's [100, 128, 16, 12, 12], this ~20x less
        per_position = neuron_counts(spikes.movedim(2, -1))   # [H*W*C], contiguous storage
        return per_position.view(spikes.shape[3], spikes.shape[4], spikes.shape[2]).permute(2, 0, 1).flatten()
    if spikes.dtype == torch.uint8 and spikes.device.type == "cpu":
        flat = spikes.reshape(spikes.shape[0] * spikes.shape[1], -1).numpy()
        return torch.from_numpy(flat.sum(0, dtype=np.int32)).float()
    return spikes.reshape(spikes.shape[0] * spikes.shape[1], -1).sum(0).float()


def binary_conv_pooled(spikes, signs):
    """conv(k) of uint8 spikes `[T, B, C, H, W]` by +-1 weights `signs`, then 2x2 average pooling,
    as float32 `[T, B, out, H', W']`: the pooled sums are integers, and the training path's
    box-mean convolution computes the same integers / 4 exactly in any order, so every route
    gives the same floats. Two routes, the one measured faster here taken: popcount
    (`_popcount_conv_pooled`) and 16-bit integer products of the box sums (`box_conv`, where
    it applies: channels-last spikes, outputs a multiple of 32). None where neither builds."""
    steps, batch = spikes.shape[:2]
    images = spikes.reshape(steps * batch, *spikes.shape[2:])
    by_popcount = functools.partial(_popcount_conv_pooled, spikes, signs)
    if not box_conv.applies(images, signs) or (pairs := box_conv.weight_pairs(signs)) is None:
        return by_popcount()
    k, out_ch = signs.shape[-1], signs.shape[0]
    out_hw = ((images.shape[2] - 1 - k) // 2 + 1, (images.shape[3] - 1 - k) // 2 + 1)

    def by_products():
        out = torch.empty((steps * batch, out_ch, *out_hw), memory_format=torch.channels_last)
        return box_conv.box_conv_into(images, pairs, k, out).view(steps, batch, *out.shape[1:])
    if not _popcount_applies(spikes):
        return by_products()
    return box_conv.faster_of(("binary conv pooled", tuple(images.shape), k), by_popcount,
                              by_products)


def _popcount_applies(spikes):
    """The popcount kernel builds here and a pixel's channels fit one 64-bit word."""
    return popcount.library() is not None and spikes.shape[2] <= 64


def _popcount_conv_pooled(spikes, signs):
    """`binary_conv_pooled` by popcount (`snn_tha.kernels.popcount`), NCHW floats out.
    Channels-last spikes (how evaluation's LIF stores those a convolution reads) are read as
    they are stored; the kernel writes the floats. The T*B images are split over torch's
    threads. None where the kernel does not build."""
    if not _popcount_applies(spikes):
        return None
    lib = popcount.library()
    steps, batch, _, h, w = spikes.shape
    channels_last = is_channels_last_sequence(spikes)
    stored = spikes.movedim(2, -1) if channels_last else spikes
    images = stored.reshape(steps * batch, *stored.shape[2:]).contiguous().numpy()
    plus = popcount.pack_weights({"kind": "conv", "signs": signs.detach().cpu().numpy()})
    k = signs.shape[-1]
    out = torch.empty((steps * batch, signs.shape[0], (h - k + 1) // 2, (w - k + 1) // 2))
    result = out.numpy()
    parts = np.array_split(np.arange(len(images)), max(1, torch.get_num_threads()))
    parts = [(p[0], p[-1] + 1) for p in parts if len(p)]
    with ThreadPoolExecutor(len(parts)) as pool:   # ctypes releases the GIL
        list(pool.map(lambda r: popcount.conv_pool_float_into(
            lib, images[r[0]:r[1]], channels_last, k, plus, 0.25, result[r[0]:r[1]]), parts))
    return out.reshape(steps, batch, *out.shape[1:])


def dropout_per_step(drop, cur):
    """Dropout of a current `[T, ...]` with a fresh mask per step, drawn in the per-step loop's
    order (T draws of `bernoulli_(1 - p)` on one step's shape: the random stream of T calls of
    `drop`) and applied in one multiply, as torch's CPU dropout does per call:
        y[t] = cur[t] * (m[t] / (1 - p)),  m[t] ~ Bernoulli(1 - p)
    No stacking: one pass over the current forward and backward. The masks of all steps come
    from `random_masks.bernoulli_masks` (the same numbers, ~10x faster) where cur is contiguous,
    so that its logical order is the order in which torch's calls would fill it."""
    keep = 1.0 - drop.p
    if cur.device.type == "cpu" and cur.is_contiguous():
        noise = random_masks.bernoulli_masks(cur.shape, keep)
    else:
        noise = torch.empty_like(cur)
        for noise_t in noise:
            noise_t.bernoulli_(keep)
    return cur * noise.div_(keep)
