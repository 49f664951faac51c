"""Spyx 1.0 (JAX; `spyx.nir.from_nir`, which builds and runs the model on time-major,
channels-last input) runs the spec graph with dt from its metadata. Its LIF thresholds the
membrane before the step's update: V = beta V + x - H(V_prev - 1), the spike H(V_prev - 1).
The membrane is ours, but each layer's spikes leave one step late, so the output lags ours by one
step per layer; it runs num_steps + layers steps and counts the last num_steps. What remains is
the bias: a layer integrates it during the steps its input has not arrived yet."""
import copy

import numpy as np

from snn_tha.deploy.consumers import Mode, batches

NAME, DIST, IMPORTS = "Spyx", "spyx", ("spyx", "jax")
MODES = {
    "lagged": Mode("spec", "nnx Conv + spyx LIF; run num_steps + layers steps, the first "
                   "`layers` output steps dropped",
                   "spikes leave each layer one step late, so a layer integrates its bias for "
                   "one step per layer before its input arrives"),
}


def spike_counts(graph, mode, images, num_steps, batch=500):
    import jax.numpy as jnp
    from spyx.nir import from_nir
    lag = sum(1 for name in graph.nodes if name.startswith("lif"))
    counts = []
    for chunk in batches(images, batch):
        x = jnp.asarray(np.asarray(chunk, dtype=np.float32))[None, :, :, :, None]  # T, B, H, W, C
        x = jnp.broadcast_to(x, (num_steps + lag,) + x.shape[1:])
        _, out = from_nir(copy.deepcopy(graph), x, dt=float(graph.metadata.get("dt", 1e-4)))
        out = np.asarray(out)[lag:]
        counts.append(out.reshape(num_steps, len(chunk), -1).sum(0))
    return np.concatenate(counts)
