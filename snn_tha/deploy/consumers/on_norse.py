"""Norse 1.1 (`norse.torch.from_nir`) imports each LIF as a `LIFBoxCell`, dropping r (it warns
that r should be 1): the spec graph's input arrives scaled by (1 - beta) and no neuron spikes,
so it reads the `norse` flavour (r folded into the weights). Its LIF resets to v_reset at the spike;
`reset_method` is a parameter of Norse's (set after import): its own `reset_subtract` subtracts
the threshold at the spike, and a reset that subtracts threshold / beta at the spike is ours."""
import contextlib
import io
import logging

import numpy as np

from snn_tha.deploy.consumers import Mode, batches
from snn_tha.deploy.nir_flavours import beta_of

NAME, DIST, IMPORTS = "Norse", "norse", ("norse", "nirtorch", "torch")
_NO_R = "drops r (warns that it should be 1): the input is scaled by 1 - beta and no neuron spikes"
_AT_SPIKE = ("subtracts the threshold at the spike, so a step later beta times it, where ours "
             "subtracts all of it then")
MODES = {
    "spec": Mode("spec", "Conv2d + LIFBoxCell as imported (reset to 0)", _NO_R),
    "zero": Mode("norse", "Conv2d + LIFBoxCell as imported: reset to v_reset = 0",
                 "resets the membrane to 0 at the spike; ours subtracts the threshold a step later"),
    "reset_subtract": Mode("norse", "LIFBoxCell with Norse's reset_subtract", _AT_SPIKE),
    "ours": Mode("norse", "LIFBoxCell with reset_method subtracting threshold / beta at the spike "
                 "(a reset Norse takes as a parameter)"),
}


def network(graph, mode):
    from norse.torch.functional.reset import reset_subtract
    from norse.torch.module.lif_box import LIFBoxCell
    from norse.torch.utils.import_nir import from_nir
    betas = [beta_of(graph.nodes[n]) for n in sorted(graph.nodes) if n.startswith("lif")]
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)   # the r warning, once per LIF: MODES says it
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            net = from_nir(graph, dt=float(graph.metadata.get("dt", 1e-4)))
    finally:
        logging.disable(previous)
    cells = [m for m in net.modules() if isinstance(m, LIFBoxCell)]
    for cell, beta in zip(cells, betas):
        if mode == "reset_subtract":
            cell.p = cell.p._replace(reset_method=reset_subtract)
        elif mode == "ours":
            cell.p = cell.p._replace(reset_method=_subtract_over(beta))
    return net.eval()


def _subtract_over(beta):
    def reset(z, v, v_reset, v_th):
        return v - z * v_th / beta
    return reset


def spike_counts(graph, mode, images, num_steps, batch=500):
    import torch
    net, counts = network(graph, mode), []
    with torch.no_grad():
        for chunk in batches(images, batch):
            x = torch.tensor(np.asarray(chunk, dtype=np.float32))[:, None]
            state, total = None, 0
            for _ in range(num_steps):
                spikes, state = net(x, state)
                total = total + spikes
            counts.append(total.reshape(len(x), -1).numpy())
    return np.concatenate(counts)
