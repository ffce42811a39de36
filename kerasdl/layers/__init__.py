"""Custom Keras layers of chapters 7-8: batch norm from scratch, Inception, Residual."""

from kerasdl.layers.batch_norm import BatchNorm, batch_norm
from kerasdl.layers.inception import Inception
from kerasdl.layers.residual import Residual

__all__ = ["batch_norm", "BatchNorm", "Inception", "Residual"]
