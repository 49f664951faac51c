"""Peer frameworks for `make bench`: the same networks built from another library's layers.

SpikingJelly 2.0 multi-step mode (optional: `make bench-deps` installs
`requirements-bench.txt`). Same architecture and binarized (sign, straight-through) weights, our
`binary` layers inside its `SeqToANNContainer`; its `LIFNode` with soft reset
(`v_reset=None`) and `decay_input=False`, tau = 1 / (1 - beta), i.e.
    H[t] = beta * V[t-1] + X[t],  V[t] = H[t] - theta * S[t]
(the reset lands one step earlier than in snnTorch's equation), its default torch backend on
the CPU and its `cupy`/`triton` backends are not used. The same cost, not the same numbers: its
rows are timing only.
"""
import torch
import torch.nn as nn

from snn_tha.binary import Conv2d, Linear
from snn_tha.models import ARCHITECTURES

NAME = "spikingjelly-2.0 multi-step"


def available():
    try:
        import spikingjelly  # noqa: F401
        from spikingjelly.activation_based import layer, neuron  # noqa: F401
    except ImportError:
        return False
    return True


def _lif(cfg, threshold):
    from spikingjelly.activation_based import neuron, surrogate
    beta = min(float(cfg.beta), 1 - 1e-6)
    return neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=float(threshold),
                          v_reset=None, surrogate_function=surrogate.Sigmoid(), step_mode="m")


def build(cfg):
    """A multi-step SpikingJelly network with the layout of `models.ARCHITECTURES[cfg.arch]`."""
    from spikingjelly.activation_based import layer
    thresholds = list(cfg.thresholds) * 3 if len(cfg.thresholds) == 1 else list(cfg.thresholds)
    seq = layer.SeqToANNContainer
    common = dict(binarize=cfg.binarize, init=cfg.init)
    if cfg.arch in ("static_conv", "dvs_conv"):
        in_ch, (c1, c2, flat), n_out = {"static_conv": (1, (16, 64, 1024), 10),
                                        "dvs_conv": (2, (16, 32, 800), 11)}[cfg.arch]
        bn = (lambda c: [nn.BatchNorm2d(c)]) if cfg.batch_norm else (lambda c: [])
        return nn.Sequential(
            seq(Conv2d(in_ch, c1, 5, bias=False, **common), nn.AvgPool2d(2), *bn(c1)),
            _lif(cfg, thresholds[0]),
            seq(Conv2d(c1, c2, 5, bias=False, **common), nn.AvgPool2d(2), *bn(c2)),
            _lif(cfg, thresholds[1]),
            seq(nn.Flatten(), Linear(flat, n_out, **common), nn.Dropout(cfg.dropout[0])),
            _lif(cfg, thresholds[2]))
    sizes = {"shd_dense": (700, 3000, 20), "temporal_dense": (100, 1000, 1)}[cfg.arch]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [seq(Linear(a, b, **common), nn.Dropout(cfg.dropout[i])), _lif(cfg, thresholds[i])]
    return nn.Sequential(*layers)


def make_step(case, device="cpu", seed=0):
    """One training step (forward over T, count-MSE loss, backward, Adam) of the peer network."""
    from spikingjelly.activation_based import functional
    from snn_tha.losses import mse_count_loss
    torch.manual_seed(seed)
    net = build(case.net).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    shape, static = ARCHITECTURES[case.net.arch][1], ARCHITECTURES[case.net.arch][2]
    if static:  # the usual multi-step idiom: the image repeated at every step
        x = torch.rand(case.batch, *shape).unsqueeze(0).repeat(case.num_steps, 1, 1, 1, 1)
    else:
        x = (torch.rand(case.num_steps, case.batch, *shape) < case.input_density).float()
    x = x.to(device)
    n_out = {"static_conv": 10, "dvs_conv": 11, "shd_dense": 20, "temporal_dense": 1}[case.net.arch]
    labels = torch.randint(0, n_out, (case.batch,)).to(device)

    def step():
        functional.reset_net(net)
        loss = mse_count_loss(net(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize()
    return net, step
