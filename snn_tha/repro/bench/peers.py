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

from snn_tha.models import build as build_ours

NAME = "spikingjelly-2.0 multi-step"


def available():
    try:
        import spikingjelly  # noqa: F401
        from spikingjelly.activation_based import layer, neuron  # noqa: F401
    except ImportError:
        return False
    return True


def _lif(beta, threshold):
    from spikingjelly.activation_based import neuron, surrogate
    beta = min(float(beta), 1 - 1e-6)
    return neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=float(threshold),
                          v_reset=None, surrogate_function=surrogate.Sigmoid(), step_mode="m")


def build(cfg):
    """A multi-step SpikingJelly network from the synapse layers of our `models.build(cfg)`
    (same layers, same initial weights), each followed by SpikingJelly's LIF."""
    from spikingjelly.activation_based import layer
    layers = []
    for block in build_ours(cfg).blocks:
        if hasattr(block, "conv"):
            synapse = [block.conv, nn.AvgPool2d(2)] + ([block.bn] if block.bn is not None else [])
        else:
            synapse = [nn.Flatten(), block.fc, block.drop]
        layers += [layer.SeqToANNContainer(*synapse), _lif(cfg.beta, block.lif.threshold)]
    return nn.Sequential(*layers)


def make_step(case, device="cpu", seed=0):
    """One training step (forward over T, count-MSE loss, backward, Adam) of the peer network."""
    from spikingjelly.activation_based import functional
    from snn_tha.repro.bench import cases as bench_cases
    from snn_tha.functional.losses import mse_count_loss
    torch.manual_seed(seed)
    net = build(case.net).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    n_out = [m for m in net.modules() if isinstance(m, nn.Linear)][-1].out_features
    x, steps, labels = bench_cases.make_inputs(case, n_out, device)
    if steps is not None:  # the usual multi-step idiom: the image repeated at every step
        x = x.unsqueeze(0).repeat(steps, *([1] * x.dim()))

    def step():
        functional.reset_net(net)
        loss = mse_count_loss(net(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize()
    return net, step
