"""The paper's networks by name (`networks`)."""
from snn_tha.models.networks import (ARCHITECTURES, ConvBlock, DenseBlock, NetConfig,  # noqa: F401
                                     SNNOutput, SpikingNet, build, conv_net, dense_net)
