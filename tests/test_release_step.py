"""Issue 10: the trainer with release settings and the reference engine IS the release's training
step: a hand-written loop in the release's order (forward over T steps, snnTorch's loss,
zero_grad, backward, grad-norm clip, clamp BEFORE step, step, scheduler, in-place float32
annealing) gives bit-identical weights, thresholds and losses for 5 iterations."""
import copy

import pytest
import torch
from snntorch import functional as SF

from snn_tha.repro import schema
from snn_tha.nn.annealing import leaky_layers
from snn_tha.repro.data import batches
from snn_tha.repro.run.train import Run

pytestmark = pytest.mark.numerics   # also run under AVX2 / generic kernels and one thread (make test)

ITERATIONS = 5




def release_loop(model, cfg, inputs):
    """The release's training loop, written out by hand."""
    a = cfg.annealing
    if cfg.optim.name == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.optim.period_iterations)
    loss_fn = SF.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)
    lifs = leaky_layers(model)
    losses = []
    for x, y in inputs:
        spk_rec = model(x, cfg.num_steps).spikes
        loss = loss_fn(spk_rec, y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        with torch.no_grad():
            for p in model.parameters():
                p.clamp_(-1.0, 1.0)          # the release clamps BEFORE the step
        optimizer.step()
        scheduler.step()
        for lif, theta_inf, alpha in zip(lifs, a.theta_inf, a.alpha):
            lif.threshold += alpha * (theta_inf - lif.threshold)   # in place, float32
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("experiment", ["fmnist_annealing", "mnist_annealing"])
def test_trainer_is_the_release_step_bit_for_bit(experiment, data_dir, tmp_path):
    cfg = schema.load_config(f"configs/{experiment}.yaml", "smoke", [
        f"data.data_dir={data_dir}", "data.validation_size=20", "net.engine=reference",
        "optim.grad_clip=1.0", "optim.weight_clip=1.0", "max_batches_per_epoch=5"])
    assert cfg.optim.clamp == "before_step" and cfg.annealing.update == "release"
    assert cfg.net.surrogate_centre == "current" and cfg.test_threshold == "current"
    run = Run(cfg, seed=0, run_dir=tmp_path / "run")
    hand = copy.deepcopy(run.model)
    shuffle = torch.Generator().set_state(run.shuffle.get_state())
    inputs = [b for _, b in zip(range(ITERATIONS),
                                batches(run.train_set, cfg.batch_size, shuffle, run.to_input))]
    rng = torch.get_rng_state()   # dropout masks: the same random stream for both loops
    ours = [run.train_step(x, y)[0] for x, y in inputs]
    torch.set_rng_state(rng)
    hand.train()
    theirs = release_loop(hand, cfg, inputs)
    assert ours == theirs
    for (name, a), (_, b) in zip(run.model.state_dict().items(), hand.state_dict().items()):
        assert torch.equal(a, b), name
    thresholds = [float(l.threshold) for l in leaky_layers(run.model)]
    assert thresholds == [float(l.threshold) for l in leaky_layers(hand)]
    assert thresholds != list(cfg.annealing.theta0)   # the thresholds did move
