"""The paper's networks by name (`networks`)."""
from snn_tha.models.config import ARCHITECTURES, Architecture  # noqa: F401
from snn_tha.models.networks import (ConvBlock, DenseBlock, NetConfig,  # noqa: F401
                                     SNNOutput, SpikingNet, build, conv_net, dense_net)
