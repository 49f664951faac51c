"""Flavours of the NIR graph: the spec-true graph (`snn_tha.deploy.nir.graph_of`) rewritten, still
valid NIR, so that one consumer that departs from the spec or cannot express our network runs it
as our network. Each flavour is named after that consumer; the default graph stays `spec`.

Our layer (threshold 1 after folding, `snn_tha.deploy.nir`):
    w[t] = beta*w[t-1] + (W x)[t] + b - H(w[t-1] - 1),   z[t] = H(w[t] - 1)
A consumer that subtracts the threshold at the spike instead (Sinabs, Rockpool) computes
    v[t] = beta*v[t-1] + (W x)[t] + b - beta*H(v[t-1] - 1)
so it needs (1 - beta) more subtracted a step later: Sinabs by its own subtract value (1/beta,
set at import, `on_sinabs`), Rockpool by a self-connection written here.
"""
import copy
from pathlib import Path

import numpy as np

from snn_tha.deploy.nir import DT, nir_module

ROCKPOOL_SYNAPSE_BITS = 60   # the pass-through synapse decays by 2**-60 a step: below float32


def beta_of(lif):
    """The per-step decay a spec-graph LIF node states: tau = dt / (1 - beta)."""
    return 1.0 - DT / float(np.asarray(lif.tau).flat[0])


def _feeding(graph):
    """{LIF node name: name of the node feeding it}."""
    return {dst: src for src, dst in graph.edges if isinstance(graph.nodes[dst], nir_module().LIF)}


def spec(graph):
    """The graph as `snn_tha.deploy.nir` writes it."""
    return graph


def norse(graph):
    """Norse 1.1 drops each LIF's r (it warns that r should be 1) and so scales the input by
    (1 - beta): r is multiplied into the weights and bias of the node feeding the LIF, r = 1."""
    for lif_name, src in _feeding(graph).items():
        lif = graph.nodes[lif_name]
        r = np.asarray(lif.r, dtype=np.float64)
        graph.nodes[src].weight = graph.nodes[src].weight * r.flat[0]
        graph.nodes[src].bias = graph.nodes[src].bias * r.flat[0]
        lif.r = np.ones_like(r)
    return graph


def sinabs(graph):
    """Sinabs 3.1 reads tau in steps (its decay is exp(-1/tau)) and tests `any(v_leak)` over the
    first axis, an error for a LIF after a convolution (C x H x W) that NIR requires to have one
    shape for all its parameters: each conv becomes the dense Affine it computes on the flattened
    map, each LIF one of N neurons with tau = -1/ln(beta), dt = 1 step in the metadata. Input: the
    image flattened."""
    nir = nir_module()

    def layer(weight, bias, lif):
        n, tau = weight.shape[0], -1.0 / np.log(beta_of(lif))
        return nir.Affine(weight=weight, bias=bias), nir.LIF(
            tau=np.full(n, tau), r=np.full(n, np.asarray(lif.r).flat[0]), v_leak=np.zeros(n),
            v_threshold=np.ones(n), v_reset=np.zeros(n))
    out = _dense_graph(graph, layer)
    out.metadata["dt"] = 1.0
    return out


def unrolled(conv, in_shape):
    """A Conv2d node as the dense matrix it computes on a flattened C x H x W input; returns the
    matrix, the bias per output neuron and the output shape."""
    weight = np.asarray(conv.weight, dtype=np.float64)
    stride = int(np.atleast_1d(conv.stride)[0])
    co, ci, k, _ = weight.shape
    _, h, w = in_shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    dense = np.zeros((co, ho, wo, ci, h, w))
    for y in range(ho):
        for x in range(wo):
            dense[:, y, x, :, y * stride:y * stride + k, x * stride:x * stride + k] = weight
    bias = np.repeat(np.asarray(conv.bias, dtype=np.float64), ho * wo)
    return dense.reshape(co * ho * wo, ci * h * w), bias, (co, ho, wo)


def rockpool(graph):
    """Rockpool 3.1's `from_nir` takes Affine and CubaLIF (its LIF branch reads a `tau_mem` NIR's
    LIF does not have) and no Conv2d. Each conv becomes the dense Affine it computes on the
    flattened map; each LIF a CubaLIF whose synapse passes the current through in one step (decay
    2**-60, the weights times 2**60) with tau_mem = -dt/ln(beta), in a subgraph with a diagonal
    self-connection of -(1 - beta) * 2**60: Rockpool subtracts the threshold at the spike, ours
    one step later, and the self-connection subtracts the difference. Input: the image flattened."""
    nir = nir_module()
    gain = 2.0 ** ROCKPOOL_SYNAPSE_BITS

    def layer(weight, bias, lif):
        n, beta = weight.shape[0], beta_of(lif)
        tau_mem = np.full(n, -DT / np.log(beta))
        return nir.Affine(weight=weight * gain, bias=bias * gain), _self_inhibited(nir.CubaLIF(
            tau_syn=np.full(n, DT / (ROCKPOOL_SYNAPSE_BITS * np.log(2.0))), tau_mem=tau_mem,
            r=tau_mem / DT - 1, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)),
            -(1.0 - beta) * gain)
    return _dense_graph(graph, layer)


def _dense_graph(graph, layer):
    """The spec graph with every conv unrolled to a dense Affine on the flattened input;
    `layer(weight, bias, lif)` gives the (Affine, neuron node) pair of each layer."""
    nir = nir_module()
    shape = list(np.asarray(graph.nodes["input"].input_type["input"]))
    nodes = {"input": nir.Input(input_type={"input": np.array([int(np.prod(shape))])})}
    edges, previous, i = [], "input", 0
    while f"layer{i}" in graph.nodes:
        conv = graph.nodes[f"layer{i}"]
        if isinstance(conv, nir.Conv2d):
            weight, bias, shape = unrolled(conv, shape)
        else:
            weight, bias = np.asarray(conv.weight, np.float64), np.asarray(conv.bias, np.float64)
        nodes[f"layer{i}"], nodes[f"lif{i}"] = layer(weight, bias, graph.nodes[f"lif{i}"])
        edges += [(previous, f"layer{i}"), (f"layer{i}", f"lif{i}")]
        previous, i = f"lif{i}", i + 1
    nodes["output"] = nir.Output(output_type={"output": np.array([weight.shape[0]])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(graph.metadata), type_check=False)


def _self_inhibited(lif, weight):
    """A LIF node with a diagonal recurrent Affine of `weight`, as the 4-node subgraph NIR uses
    for a recurrent layer (Rockpool's `from_nir` reads it as one LIFTorch with w_rec)."""
    nir = nir_module()
    n = np.shape(lif.v_threshold)[0]
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": lif,
               "rec": nir.Affine(weight=np.diag(np.full(n, weight)), bias=np.zeros(n)),
               "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
        type_check=False)


FLAVOURS = {"spec": spec, "norse": norse, "sinabs": sinabs, "rockpool": rockpool}


def flavoured(graph, name):
    """A copy of the spec graph `graph` in flavour `name`, which its metadata names."""
    if name not in FLAVOURS:
        raise ValueError(f"NIR flavour {name!r}: use one of {', '.join(FLAVOURS)}")
    out = FLAVOURS[name](copy.deepcopy(graph))
    out.metadata["flavour"] = name
    if name != "spec":
        out.metadata["flavour_note"] = " ".join(FLAVOURS[name].__doc__.split())
    return out


def file_name(flavour="spec"):
    """model.nir for the spec-true graph, model.<flavour>.nir for a consumer's flavour."""
    return "model.nir" if flavour == "spec" else f"model.{flavour}.nir"


def write(export_path, path, flavour):
    """Write the graph of `export_path` in `flavour` to `path` (NIR's HDF5 file); returns the path."""
    from snn_tha.deploy.nir import graph
    nir_module().write(str(path), flavoured(graph(export_path), flavour))
    return Path(path)
