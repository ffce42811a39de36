"""Tests of the notes' CNNs (kerasdl/models/)."""

import keras
import numpy as np
import pytest

from kerasdl.layers import BatchNorm, Inception, Residual
from kerasdl.models import (
    VGG11_ARCH,
    alexnet,
    bn_lenet,
    googlenet,
    lenet,
    nin,
    nin_block,
    resnet18,
    resnet_block,
    small_vgg_arch,
    vgg,
    vgg_block,
)


def param_counts(net):
    """(trainable, non-trainable) scalar counts."""
    count = lambda weights: sum(int(np.prod(w.shape)) for w in weights)  # noqa: E731
    return count(net.trainable_weights), count(net.non_trainable_weights)


@pytest.mark.parametrize(
    "factory,trainable,non_trainable",
    [
        (lenet, 61_706, 0),
        (alexnet, 46_764_746, 0),
        (nin, 1_992_166, 0),
        (googlenet, 5_977_530, 0),
        (bn_lenet, 44_878, 452),
        (resnet18, 11_178_378, 7_808),
    ],
)
def test_param_counts(factory, trainable, non_trainable):
    """Does each model have the notes' trainable and non-trainable parameter counts, right after construction?"""
    net = factory()
    assert param_counts(net) == (trainable, non_trainable)


def test_vgg11_param_counts():
    """Do VGG-11 and its channels // 4 variant have 128,806,154 and 43,093,322 parameters?"""
    assert param_counts(vgg(VGG11_ARCH)) == (128_806_154, 0)
    assert param_counts(vgg(small_vgg_arch(4))) == (43_093_322, 0)


def test_small_vgg_arch():
    """Does small_vgg_arch divide the channels and keep the conv counts?"""
    assert small_vgg_arch(4) == ((1, 16), (1, 32), (2, 64), (2, 128), (2, 128))
    assert small_vgg_arch(1) == VGG11_ARCH
    with pytest.raises(ValueError, match="`ratio` must be an int >= 1. Received: ratio=0"):
        small_vgg_arch(0)


@pytest.mark.parametrize(
    "factory,input_shape",
    [(lenet, (28, 28, 1)), (bn_lenet, (28, 28, 1)), (googlenet, (96, 96, 1)), (resnet18, (96, 96, 1))],
)
def test_logits_shape_and_no_softmax(factory, input_shape):
    """Does a forward pass give (N, 10) logits from a linear last layer (no softmax)?"""
    net = factory()
    assert net.input_shape == (None,) + input_shape
    X = np.random.default_rng(0).uniform(size=(2,) + input_shape).astype(np.float32)
    y_hat = np.asarray(net(X, training=False))
    assert y_hat.shape == (2, 10)
    assert net.layers[-1].get_config().get("activation", "linear") == "linear"
    assert not isinstance(net.layers[-1], keras.layers.Softmax)


def test_alexnet_first_conv_output_is_54():
    """Does AlexNet's first conv map 224x224 to 54x54 and flatten 5x5x256 = 6400 features?"""
    net = alexnet()
    assert net.layers[0].output.shape == (None, 54, 54, 96)
    flatten = next(layer for layer in net.layers if isinstance(layer, keras.layers.Flatten))
    assert flatten.output.shape == (None, 6400)
    assert [type(layer) for layer in net.layers].count(keras.layers.Dropout) == 2


def test_lenet_architecture():
    """Does LeNet use sigmoid convs, average pooling and 120/84/10 dense units?"""
    net = lenet()
    convs = [layer for layer in net.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding, c.activation.__name__) for c in convs] == [
        (6, (5, 5), "same", "sigmoid"),
        (16, (5, 5), "valid", "sigmoid"),
    ]
    assert sum(isinstance(layer, keras.layers.AveragePooling2D) for layer in net.layers) == 2
    dense = [layer.units for layer in net.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [120, 84, 10]


def test_bn_lenet_uses_average_pooling_and_scratch_bn():
    """Does BN-LeNet use average (not max) pooling and four scratch BatchNorm layers before sigmoids?"""
    net = bn_lenet()
    types = [type(layer) for layer in net.layers]
    assert types.count(BatchNorm) == 4
    assert types.count(keras.layers.AveragePooling2D) == 2
    assert keras.layers.MaxPooling2D not in types
    for i, layer in enumerate(net.layers):
        if isinstance(layer, BatchNorm):
            assert isinstance(net.layers[i - 1], (keras.layers.Conv2D, keras.layers.Dense))
            assert net.layers[i + 1].get_config()["activation"] == "sigmoid"


def test_bn_lenet_moving_stats_update_only_in_training():
    """Do BN-LeNet's moving statistics change with training=True and stay put otherwise?"""
    net = bn_lenet()
    X = np.random.default_rng(1).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    before = [w.numpy().copy() for w in net.non_trainable_weights]
    net(X)
    net(X, training=False)
    for b, w in zip(before, net.non_trainable_weights):
        np.testing.assert_allclose(w, b, rtol=0, atol=0)
    net(X, training=True)
    assert all(not np.allclose(w, b) for b, w in zip(before, net.non_trainable_weights))


def test_vgg_block():
    """Does vgg_block stack num_convs same-padded 3x3 ReLU convs and halve the size?"""
    blk = vgg_block(2, 8)
    Y = blk(np.zeros((1, 6, 6, 3), np.float32))
    assert Y.shape == (1, 3, 3, 8)
    convs = [layer for layer in blk.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.kernel_size, c.padding, c.activation.__name__) for c in convs] == [((3, 3), "same", "relu")] * 2
    with pytest.raises(ValueError, match="`num_convs` must be an int >= 1. Received: num_convs=0"):
        vgg_block(0, 8)


def test_nin_block_and_global_pooling():
    """Does nin_block end in two 1x1 convs and nin end in global average pooling of 10 channels?"""
    blk = nin_block(5, 3, 1, "same")
    assert blk(np.zeros((1, 4, 4, 2), np.float32)).shape == (1, 4, 4, 5)
    assert [layer.kernel_size for layer in blk.layers] == [(3, 3), (1, 1), (1, 1)]
    net = nin()
    assert isinstance(net.layers[-1], keras.layers.GlobalAveragePooling2D)
    assert net.output_shape == (None, 10)


def test_googlenet_inception_channels():
    """Do GoogLeNet's nine Inception blocks output the notes' channel counts?"""
    net = googlenet()
    blocks = [layer for layer in net.layers if isinstance(layer, Inception)]
    channels = [layer.output.shape[-1] for layer in blocks]
    assert channels == [256, 480, 512, 512, 512, 528, 832, 832, 1024]


def test_resnet_block_downsamples_unless_first():
    """Does resnet_block downsample with a 1x1 shortcut except for the first stage?"""
    X = np.zeros((1, 8, 8, 4), np.float32)
    first = resnet_block(4, 2, first_block=True)
    assert first(X).shape == (1, 8, 8, 4)
    assert [r.use_1x1conv for r in first.layers] == [False, False]
    later = resnet_block(6, 2)
    assert later(X).shape == (1, 4, 4, 6)
    assert [(r.use_1x1conv, r.strides) for r in later.layers] == [(True, 2), (False, 1)]
    assert all(isinstance(r, Residual) for r in later.layers)
    with pytest.raises(ValueError, match="`num_residuals` must be an int >= 1. Received: num_residuals=0"):
        resnet_block(4, 0)


def test_resnet18_bn_momentum():
    """Does resnet18 use Keras' default BN momentum 0.99 unless told otherwise, in every BN layer?"""
    def bn_layers(layers):
        for layer in layers:
            if isinstance(layer, keras.Sequential):
                yield from bn_layers(layer.layers)
            elif isinstance(layer, Residual):
                yield from (layer.bn1, layer.bn2)
            elif isinstance(layer, keras.layers.BatchNormalization):
                yield layer

    assert len(list(bn_layers(resnet18().layers))) == 17  # stem + 2 per block
    assert {bn.momentum for bn in bn_layers(resnet18().layers)} == {0.99}
    assert {bn.momentum for bn in bn_layers(resnet18(bn_momentum=0.9).layers)} == {0.9}


def test_resnet18_other_input_size():
    """Does resnet18 accept the small 32x32 input of the CPU experiment with the same parameter count?"""
    net = resnet18(input_shape=(32, 32, 1))
    assert param_counts(net) == (11_178_378, 7_808)
    assert net(np.zeros((1, 32, 32, 1), np.float32)).shape == (1, 10)
