"""snnTorch 1.0 (`snntorch.import_nir.import_from_nir`, with nirtorch) runs the spec graph.
It imports each LIF as `snn.Leaky(reset_mechanism="zero")`: NIR's v_reset, at the spike. Set to
`reset_mechanism="subtract", reset_delay=True` (the reset the graph's metadata states) it is our
network."""
import contextlib
import io

import numpy as np

from snn_tha.deploy.consumers import Mode, batches

NAME, DIST, IMPORTS = "snnTorch", "snntorch", ("snntorch", "nirtorch", "torch")
MODES = {
    "subtract": Mode("spec", "Conv2d + Leaky; Leaky set to reset_mechanism='subtract', "
                     "reset_delay=True after import (the metadata's reset)"),
    "zero": Mode("spec", "Conv2d + Leaky as imported: reset_mechanism='zero'",
                 "resets the membrane to 0 at the spike (NIR's v_reset); ours subtracts the "
                 "threshold a step later, so the membrane keeps what exceeded it"),
}


def network(graph, mode):
    import snntorch as snn
    from snntorch.import_nir import import_from_nir
    with contextlib.redirect_stdout(io.StringIO()):   # the importer prints its progress
        net = import_from_nir(graph)
    if mode == "subtract":
        for leaky in (m for m in net.modules() if isinstance(m, snn.Leaky)):
            leaky.reset_mechanism = "subtract"
            leaky.reset_delay = True
            leaky.state_function = leaky._base_sub   # bound at construction: set it again
    return net.eval()


def spike_counts(graph, mode, images, num_steps, batch=500):
    import torch
    import snntorch.utils
    net, counts = network(graph, mode), []
    with torch.no_grad():
        for chunk in batches(images, batch):
            x = torch.tensor(np.asarray(chunk, dtype=np.float32))[:, None]   # pixel values 0-255
            snntorch.utils.reset(net)
            total = 0
            for _ in range(num_steps):
                total = total + net(x)[0]
            counts.append(total.reshape(len(x), -1).numpy())
    return np.concatenate(counts)
