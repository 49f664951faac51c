"""Spiking networks from blocks (synapse -> Leaky), looked up by name.

Every network has one set of parameters and two ways to run it over time:
- `engine="reference"`: the authors' release structure, one snnTorch per-step call per layer
  per time step (conv -> avg-pool -> BN each step);
- `engine="exact"` (default) / `"fast"`: layer by layer over the whole sequence with the
  kernels of `snn_tha.kernels.engine` (identical spikes on binary inputs; see that module).
Float and binarized variants differ only in `binarize` (see `snn_tha.nn.binary`).
"""
import functools
import os
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from snn_tha.kernels import engine, layout, low_precision
from snn_tha.kernels.batch_norm import batch_norm_per_step, batch_norm_static
from snn_tha.kernels.pooled_conv import pooled_conv_over_time
from snn_tha.kernels.sparse_linear import spike_linear
from snn_tha.nn.binary import Conv2d, Linear
from snn_tha.nn.neurons import Leaky
from snn_tha.models.config import ARCHITECTURES, ENGINES, NetConfig  # noqa: F401 (NetConfig: re-exported)



class SNNOutput(NamedTuple):
    spikes: torch.Tensor          # output layer spikes   [T, B, C]
    membrane: torch.Tensor        # output layer membrane [T, B, C]
    layer_spikes: list            # spikes of every Leaky layer, in order (activity analysis)


def _spike_guard(x, check):
    """The first layer's input may be real-valued (images): low precision only for spikes,
    checked only when the low-precision op would run (`low_precision.faster`)."""
    return (lambda: low_precision.is_spike_tensor(x)) if check else None


class ConvBlock(nn.Module):
    """conv(k) -> avg_pool(2) -> [BatchNorm] -> Leaky."""

    def __init__(self, in_ch, out_ch, lif, binarize, init, batch_norm, kernel=5,
                 init_order="release"):
        super().__init__()
        self.conv = Conv2d(in_ch, out_ch, kernel, bias=False, binarize=binarize, init=init,
                           init_order=init_order)
        self.bn = nn.BatchNorm2d(out_ch) if batch_norm else None
        self.lif = lif

    def step_current(self, x):
        cur = F.avg_pool2d(self.conv(x), 2)
        return self.bn(cur) if self.bn is not None else cur

    def sequence_current(self, x, static, num_steps, chunk, fast=False, check_spikes=False):
        if x.dtype == torch.uint8:   # spikes from the forward-only evaluation (SpikingNet.forward)
            cur = engine.binary_conv_pooled(x, self.conv.effective_weight()) if self.conv.binarize else None
            if cur is not None:
                return batch_norm_per_step(self.bn, cur) if self.bn is not None else cur
            x = x.float()
        if static:
            # computed once, so folding would save nothing; the per-step loop's own operations
            # keep real-valued inputs (images) bit-identical to it
            cur = F.avg_pool2d(self.conv(x), 2)
            return batch_norm_static(self.bn, cur, num_steps) if self.bn is not None else cur
        weight = self.conv.effective_weight()
        # a later block's input is a LIF's spikes: binary, so the forward may run in integers
        conv = functools.partial(pooled_conv_over_time, chunk=chunk, binary_input=not check_spikes)
        if fast:  # spikes in: exact forward, bf16 gradients where measured faster
            cur = low_precision.faster("pooled conv", conv,
                                functools.partial(conv, low_precision_grad=True),
                                x, weight, guard=_spike_guard(x, check_spikes))
        else:
            cur = conv(x, weight)
        return batch_norm_per_step(self.bn, cur) if self.bn is not None else cur


class DenseBlock(nn.Module):
    """flatten -> Linear -> Dropout (on the current, as in the release) -> Leaky."""

    def __init__(self, n_in, n_out, lif, binarize, init, dropout, bias=True, init_order="release"):
        super().__init__()
        self.fc = Linear(n_in, n_out, bias=bias, binarize=binarize, init=init,
                         init_order=init_order)
        self.drop = nn.Dropout(dropout)
        self.lif = lif

    def step_current(self, x):
        return self.drop(self.fc(x.flatten(1)))

    def _rows_and_weight(self, x, static):
        """Flattened inputs and the weight that reads them. Channels-last spikes `[T, B, C, H, W]`
        are flattened in their storage order (h, w, c), a view, and the weight's columns are
        permuted to match: no copy of the activations either way, and each output sums the
        same products (exact on spikes times +-1 weights)."""
        weight = self.fc.effective_weight()
        if static or not layout.is_channels_last_sequence(x):
            return x.flatten(1 if static else 2).float(), weight   # uint8 spikes in evaluation
        c, h, w = x.shape[2:]
        rows = x.movedim(2, -1).flatten(2).float()
        return rows, weight.view(-1, c, h, w).permute(0, 2, 3, 1).reshape(weight.shape[0], -1)

    def sequence_current(self, x, static, num_steps, chunk, fast=False, check_spikes=False):
        x, weight = self._rows_and_weight(x, static)
        if fast and not static and self.fc.binarize:  # spikes x (+-1): exact in int8
            cur = low_precision.faster("linear", spike_linear, low_precision.spike_linear_int8, x, weight,
                                 self.fc.bias, guard=_spike_guard(x, check_spikes))
        else:   # sparse inputs (SHD's) by their nonzeros, exact; F.linear else
            cur = spike_linear(x, weight, self.fc.bias)
        if static or not (self.training and self.drop.p > 0):
            return self.drop(cur)
        # one mask per step, drawn in the per-step loop's order: same random stream, same masks
        if cur.device.type != "cpu":  # CUDA's dropout is a fused kernel with its own stream
            return torch.stack([self.drop(cur_t) for cur_t in cur])
        return engine.dropout_per_step(self.drop, cur)


class SpikingNet(nn.Module):
    """A feed-forward stack of blocks. `forward(x)` takes time-first `[T, B, ...]` input, or a
    static `[B, ...]` input shown at every one of `num_steps` steps."""

    def __init__(self, blocks, engine="exact", conv_chunk=25):
        super().__init__()
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.blocks = nn.ModuleList(blocks)
        self.engine = engine
        self.conv_chunk = conv_chunk
        self.forward_only = False   # set by `forward_only(net)`: evaluation's path

    def _channels_last(self, i, cur):
        """Whether block i's LIF runs on channels-last storage: its spikes feed a convolution,
        or its current comes so from one (a convolution then batch norm on such spikes). oneDNN
        then reorders nothing between NCHW and its blocked layout, forward or backward."""
        if cur.device.type != "cpu" or cur.dim() < 4:
            return False
        feeds_conv = i + 1 < len(self.blocks) and isinstance(self.blocks[i + 1], ConvBlock)
        return feeds_conv or layout.is_channels_last_sequence(cur)

    def _hidden_spikes(self, block, cur, num_steps):
        """Forward-only evaluation: a hidden layer's spikes as uint8 with no membrane record
        (`engine.lif_spikes`), which a binary conv after it sums by popcount; None to run the
        usual sequence (training, autograd on, CUDA, no kernel)."""
        if not self.forward_only or self.training or block is self.blocks[-1]:
            return None
        spikes_only = getattr(block.lif, "sequence_spikes", None)
        return spikes_only(cur, num_steps) if spikes_only else None

    def forward(self, x, num_steps=None):
        if self.engine == "reference":
            return self._forward_reference(x, num_steps)
        static = num_steps is not None
        layer_spikes = []
        fast = self.engine == "fast"
        # the first layer's input may be real-valued (images): low precision only for spikes
        for i, block in enumerate(self.blocks):
            # a static current stays static only if no fresh dropout mask is drawn per step
            keep_static = static and not (isinstance(block, DenseBlock) and block.drop.p > 0
                                          and self.training)
            if static and not keep_static:
                x, static = x.unsqueeze(0).expand(num_steps, *x.shape), False
            first = block is self.blocks[0]
            cur = block.sequence_current(x, static, num_steps, self.conv_chunk,
                                         fast=fast and not static, check_spikes=first)
            channels_last = self._channels_last(i, cur)
            if channels_last:   # the LIF is element-wise: only the storage changes
                cur = layout.channels_last_storage(cur)
            spk = self._hidden_spikes(block, cur, num_steps if static else None)
            if spk is None:
                spk, mem = block.lif.sequence(cur, num_steps if static else None)
            if channels_last:
                spk = layout.channels_first_view(spk)
            layer_spikes.append(spk)
            x, static = spk, False
        return SNNOutput(spk, mem, layer_spikes)

    def _forward_reference(self, x, num_steps):
        steps = num_steps if num_steps is not None else x.shape[0]
        mems = [block.lif.init_leaky() for block in self.blocks]
        records = [[] for _ in self.blocks]
        mem_out = []
        for t in range(steps):
            inp = x if num_steps is not None else x[t]
            for i, block in enumerate(self.blocks):
                inp, mems[i] = block.lif(block.step_current(inp), mems[i])
                records[i].append(inp)
            mem_out.append(mems[-1])
        layer_spikes = [torch.stack(r) for r in records]
        return SNNOutput(layer_spikes[-1], torch.stack(mem_out), layer_spikes)


FORWARD_ONLY_ENV = "SNN_THA_FORWARD_ONLY"   # "0": the default of `forward_only` is off


@contextmanager
def forward_only(net, enabled=None):
    """Evaluation without autograd records: hidden layers' spikes as uint8 from the C++ LIF
    forward with no membranes, binary convolutions on them by popcount. Exact: the same spikes,
    predictions and counts as the usual forward (tests). `enabled=False` keeps the usual forward
    under no_grad (the bench's "before"); None: on unless $SNN_THA_FORWARD_ONLY is "0"."""
    before = getattr(net, "forward_only", None)   # None: not a SpikingNet, only no_grad
    if before is not None:
        net.forward_only = (os.environ.get(FORWARD_ONLY_ENV, "1") != "0") if enabled is None else enabled
    try:
        with torch.no_grad():
            yield net
    finally:
        if before is not None:
            net.forward_only = before


def _lifs(cfg, n):
    thresholds = cfg.thresholds if len(cfg.thresholds) != 1 else cfg.thresholds * n
    if len(thresholds) != n:
        raise ValueError(f"arch '{cfg.arch}' has {n} Leaky layers; thresholds has "
                         f"{len(cfg.thresholds)} values")
    return [Leaky(cfg.beta, th, cfg.slope, cfg.surrogate_centre) for th in thresholds]


def _dropouts(cfg, n):
    if len(cfg.dropout) != n:
        raise ValueError(f"arch '{cfg.arch}' has {n} dropout sites; dropout has "
                         f"{len(cfg.dropout)} values")
    return cfg.dropout


def conv_net(cfg, in_ch, channels, n_out):
    """in_ch -> C5-AP2 -> C5-AP2 -> Dense(n_out); the paper's static and DVS networks."""
    lif = _lifs(cfg, 3)
    c1, c2, flat = channels
    common = dict(binarize=cfg.binarize, init=cfg.init, init_order=cfg.init_order)
    return SpikingNet([ConvBlock(in_ch, c1, lif[0], batch_norm=cfg.batch_norm, **common),
                       ConvBlock(c1, c2, lif[1], batch_norm=cfg.batch_norm, **common),
                       DenseBlock(flat, n_out, lif[2], dropout=_dropouts(cfg, 1)[0], **common)],
                      cfg.engine, cfg.conv_chunk)


def dense_net(cfg, sizes, dropout=None):
    """sizes[0]-...-sizes[-1] fully connected; SHD (700-3000-20) and temporal coding."""
    n = len(sizes) - 1
    lif = _lifs(cfg, n)
    drops = _dropouts(cfg, n) if dropout is None else dropout
    return SpikingNet([DenseBlock(a, b, lif[i], cfg.binarize, cfg.init, drops[i],
                                  init_order=cfg.init_order)
                       for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))],
                      cfg.engine, cfg.conv_chunk)


FACTORIES = {   # the layers of each record in snn_tha.models.config.ARCHITECTURES
    "static_conv": lambda cfg: conv_net(cfg, 1, (16, 64, 64 * 4 * 4), 10),
    "dvs_conv": lambda cfg: conv_net(cfg, 2, (16, 32, 32 * 5 * 5), 11),
    "shd_dense": lambda cfg: dense_net(cfg, (700, 3000, 20)),
    # the temporal-coding net (Sec. 4.1); snn_tha.repro.paper.temporal builds it with its config's sizes
    "temporal_dense": lambda cfg: dense_net(cfg, (100, 1000, 1)),
}
assert FACTORIES.keys() == ARCHITECTURES.keys()


def build(cfg):
    """Build the network named by `cfg.arch`."""
    if cfg.arch not in FACTORIES:
        raise ValueError(f"unknown arch {cfg.arch!r}; valid: {', '.join(FACTORIES)}")
    return FACTORIES[cfg.arch](cfg)
