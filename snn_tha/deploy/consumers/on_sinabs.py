"""Sinabs 3.1 (`sinabs.nir.from_nir`) cannot import a LIF after a convolution (its
`any(node.v_leak)` fails on a C x H x W array) and reads tau in steps, so it reads the `sinabs`
flavour (dense layers on the flattened image). It builds `LIFSqueeze` layers that take
(batch x time) as one axis, for a batch size fixed at import, with
its defaults: several spikes per step (MultiSpike) and the threshold subtracted at the spike.
With one spike per step (SingleSpike) and threshold / beta subtracted at the spike
(MembraneSubtract(subtract_value=1/beta)), both settings of its own, it is our network."""
import numpy as np

from snn_tha.deploy.consumers import Mode, batches

NAME, DIST, IMPORTS = "Sinabs", "sinabs", ("sinabs", "nirtorch", "torch")
MODES = {
    "as_imported": Mode("sinabs", "Linear + LIFSqueeze as imported: MultiSpike, "
                        "MembraneSubtract(threshold) at the spike",
                        "emits floor(v) spikes a step where ours emits one, and subtracts the "
                        "threshold at the spike (beta times it a step later; ours all of it)"),
    "ours": Mode("sinabs", "LIFSqueeze set to SingleSpike and MembraneSubtract(subtract_value="
                 "1/beta) after import"),
}


def network(graph, mode, batch_size):
    import sinabs.layers as sl
    from sinabs.activation import MembraneSubtract, SingleSpike
    from sinabs.nir import from_nir
    betas = [beta_of_steps(graph.nodes[n]) for n in sorted(graph.nodes) if n.startswith("lif")]
    net = from_nir(graph, batch_size=batch_size)
    if mode == "ours":
        for layer, beta in zip((m for m in net.modules() if isinstance(m, sl.LIF)), betas):
            layer.spike_fn = SingleSpike
            layer.reset_fn = MembraneSubtract(subtract_value=1.0 / beta)
    return net.eval()


def beta_of_steps(lif):
    """The flavour's tau is in steps: beta = exp(-1/tau)."""
    return float(np.exp(-1.0 / np.asarray(lif.tau).flat[0]))


def spike_counts(graph, mode, images, num_steps, batch=100):
    import sinabs
    import torch
    counts = []
    with torch.no_grad():
        for chunk in batches(images, batch):
            net = network(graph, mode, len(chunk))   # the batch size is fixed at import
            sinabs.reset_states(net)
            x = torch.tensor(np.asarray(chunk, dtype=np.float32).reshape(len(chunk), 1, -1))
            x = x.expand(-1, num_steps, -1).reshape(-1, x.shape[-1])   # (batch x time, pixels)
            out = net(x)
            out = out[0] if isinstance(out, tuple) else out
            counts.append(out.reshape(len(chunk), num_steps, -1).sum(1).numpy())
    return np.concatenate(counts)

