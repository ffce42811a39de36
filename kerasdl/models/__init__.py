"""The notes' CNNs as Keras models (NHWC inputs, logits out), one per file."""

from kerasdl.models.alexnet import alexnet
from kerasdl.models.bn_lenet import bn_lenet
from kerasdl.models.googlenet import googlenet
from kerasdl.models.lenet import lenet
from kerasdl.models.nin import nin, nin_block
from kerasdl.models.resnet import resnet18, resnet_block
from kerasdl.models.vgg import VGG11_ARCH, small_vgg_arch, vgg, vgg_block

__all__ = [
    "lenet",
    "alexnet",
    "vgg_block",
    "vgg",
    "VGG11_ARCH",
    "small_vgg_arch",
    "nin_block",
    "nin",
    "googlenet",
    "bn_lenet",
    "resnet_block",
    "resnet18",
]
