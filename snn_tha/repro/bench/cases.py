"""The bench's networks at paper settings and one training step of each (shared by `bench`,
`bench_lif` and `bench_peers`)."""
from dataclasses import dataclass

import torch

from snn_tha.functional.losses import mse_count_loss
from snn_tha.models import ARCHITECTURES, NetConfig, build
from snn_tha.repro import paths


@dataclass(frozen=True)
class BenchCase:
    name: str
    net: NetConfig
    num_steps: int
    batch: int
    input_density: float   # spike inputs: fraction of ones


def _case(name, experiment, input_density):
    """A benchmark case from an experiment config (the YAML holds the hyperparameters)."""
    from snn_tha.repro import schema
    cfg = schema.load_config(paths.CONFIGS / f"{experiment}.yaml")
    steps = cfg.num_steps if cfg.data.is_static else (cfg.data.train_bins or cfg.num_steps)
    return BenchCase(name, cfg.net_config, steps, cfg.batch_size, input_density)


CASES = (  # the annealing variants at their configs' settings; spike inputs are synthetic
    _case("static (FMNIST)", "fmnist_annealing", 0.0),
    _case("DVS128 Gesture", "dvs_annealing", 0.1),
    _case("SHD", "shd_annealing", 0.03),
)
TORCH_LIF = "exact, torch LIF"


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def make_inputs(case, n_out, device="cpu"):
    """(x, num_steps, labels): a static image batch with num_steps, or synthetic spikes
    [T, B, ...] of the case's density with None; labels of `n_out` classes for the count loss."""
    shape, static = ARCHITECTURES[case.net.arch].input_shape, ARCHITECTURES[case.net.arch].static
    if static:
        x, steps = torch.rand(case.batch, *shape), case.num_steps
    else:
        x = (torch.rand(case.num_steps, case.batch, *shape) < case.input_density).float()
        steps = None
    return x.to(device), steps, torch.randint(0, n_out, (case.batch,)).to(device)


def make_step(case, engine, seed=0, device="cpu"):
    """Model, optimizer, data and a closure that runs one training step."""
    torch.manual_seed(seed)
    net = build(case.net).to(device)
    net.engine = engine
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, steps, labels = make_inputs(case, net.blocks[-1].fc.out_features, device)

    def step():
        out = net(x, steps)
        loss = mse_count_loss(out.spikes, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
    return net, step
