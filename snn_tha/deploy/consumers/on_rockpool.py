"""Rockpool 3.1 (`rockpool.nn.modules.torch.nir.from_nir`) builds LinearTorch and LIFTorch from
Affine and CubaLIF nodes only (no Conv2d; its LIF branch reads `tau_mem`, which NIR's LIF does
not have), so it reads the `rockpool` flavour: convs unrolled to dense, a pass-through synapse,
and a self-connection that makes its reset at the spike ours. Its LIFTorch emits floor(v) spikes
a step; `max_spikes_per_dt = 1`, a parameter of its own set after import, makes it one."""
import numpy as np

from snn_tha.deploy.consumers import Mode, batches

NAME, DIST, IMPORTS = "Rockpool", "rockpool", ("rockpool", "nirtorch", "torch")
MODES = {
    "as_imported": Mode("rockpool", "LinearTorch + recurrent LIFTorch as imported "
                        "(max_spikes_per_dt = 2**16)",
                        "emits floor(v) spikes a step where ours emits one"),
    "ours": Mode("rockpool", "LinearTorch + recurrent LIFTorch, max_spikes_per_dt = 1 after "
                 "import"),
}


def network(graph, mode):
    import torch
    from rockpool.nn.modules.torch import LIFTorch
    from rockpool.nn.modules.torch.nir import from_nir
    net = from_nir(graph)
    if mode == "ours":
        for layer in (m for m in net.modules() if isinstance(m, LIFTorch)):
            layer.max_spikes_per_dt = torch.tensor(1.0)
    return net


def spike_counts(graph, mode, images, num_steps, batch=100):
    import torch
    net, counts = network(graph, mode), []
    with torch.no_grad():
        for chunk in batches(images, batch):
            for layer in net.modules():   # the state of batch item 0 is kept between calls
                if hasattr(layer, "reset_state"):
                    layer.reset_state()
            x = torch.tensor(np.asarray(chunk, dtype=np.float32).reshape(len(chunk), 1, -1))
            out = net(x.expand(-1, num_steps, -1).contiguous())
            out = out[0] if isinstance(out, tuple) else out
            counts.append(out.sum(1).numpy())
    return np.concatenate(counts)
