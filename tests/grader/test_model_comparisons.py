"""Tests of `grader.models`: canonical op sequences, structure comparison, counts and
weight transfer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl
from grader import models
from tests.grader.fixtures import ch07_cnn, ch08_batchnorm_resnet

LENET_INPUT = (28, 28, 1)
# Same weights and inputs through two valid implementations: float32 rounding only.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5
SEED = 0


def _kinds(ops):
    return [op.kind for op in ops]


@pytest.mark.parametrize("build", [ch07_cnn.lenet, ch07_cnn.lenet_functional,
                                   ch07_cnn.lenet_subclass, ch07_cnn.lenet_tf_nn_pool])
def test_lenet_variants_trace_to_the_reference_ops(build):
    """Do Sequential, functional and subclassed LeNets flatten to the reference's ops?"""
    reference_ops = models.trace_ops(kerasdl.lenet())
    student_ops = models.trace_ops(build(), LENET_INPUT)
    assert student_ops == reference_ops
    assert _kinds(reference_ops)[:3] == ["convolution", "activation", "average pooling"]


def test_first_mismatch_is_reported_in_the_notes_terms():
    """Is max instead of average pooling reported as 'layer 3: expected average pooling'?"""
    wrong = ch07_cnn._lenet_variant(pool=keras.layers.MaxPooling2D)
    result, mismatch = models.compare_structure(models.trace_ops(wrong),
                                                models.trace_ops(kerasdl.lenet()))
    assert not result.passed
    assert "layer 3: expected average pooling 2x2" in result.message
    assert "found max pooling 2x2" in result.message
    assert mismatch.index == 2


@pytest.mark.parametrize("build, expected", [(kerasdl.lenet, (61_706, 0)),
                                             (kerasdl.bn_lenet, (44_878, 452))])
def test_parameter_counts_match_the_facts(build, expected):
    """Are the trainable and non-trainable counts the FACTS.md anchors?"""
    assert models.parameter_counts(build()) == expected


@pytest.mark.parametrize("layer_class, additions", [
    (kerasdl.Residual, 1),
    (ch08_batchnorm_resnet.Residual, 1),
    (ch08_batchnorm_resnet.ResidualShortcutFirst, 1),
    (ch08_batchnorm_resnet.ResidualTwice, 2),
])
def test_skip_connections_are_counted(layer_class, additions):
    """Is a skip connection added twice visible as two additions in the trace?"""
    layer = layer_class(3)
    layer(tf.zeros((1, 4, 4, 3)))
    ops = models.trace_ops(layer, (4, 4, 3))
    assert _kinds(ops).count("addition") == additions
    assert _kinds(ops).count("batch norm") == 2


def test_transfer_makes_outputs_equal():
    """After copying the reference's seeded weights, do both LeNets compute the same?"""
    reference, student = kerasdl.lenet(), ch07_cnn.lenet_subclass()
    reference_ops = models.trace_ops(reference)
    student_ops = models.trace_ops(student, LENET_INPUT)
    models.randomize_weights(reference_ops, np.random.default_rng(SEED))
    models.transfer_weights(reference_ops, student_ops)
    X = tf.constant(np.random.default_rng(SEED).uniform(size=(3, *LENET_INPUT)), "float32")
    np.testing.assert_allclose(student(X).numpy(), reference(X).numpy(),
                               rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_transfer_to_a_different_model_raises():
    """Does copying into a model without a matching layer raise StructureMismatch?"""
    reference_ops = models.trace_ops(kerasdl.lenet())
    wrong_ops = models.trace_ops(ch07_cnn._lenet_variant(padding="valid"))
    with pytest.raises(models.StructureMismatch, match="no layer of yours matches"):
        models.transfer_weights(reference_ops, wrong_ops)


def test_scratch_batch_norm_is_recognised_and_ordered():
    """Is a scratch BatchNorm a 'batch norm' op with gamma, beta, mean, var in order?"""
    layer = ch08_batchnorm_resnet.BatchNorm()
    layer.build((None, 4))
    (op,) = models.trace_ops(layer, (4,))
    assert op.kind == "batch norm"
    names = [v.path.split("/")[-1] for v in models._ordered_weights(op)]
    assert names == ["gamma", "beta", "moving_mean", "moving_variance"]


def test_trace_without_input_shape_raises():
    """Does tracing a model without keras.Input and without input_shape raise ValueError?"""
    with pytest.raises(ValueError, match="Received: input_shape=None"):
        models.trace_ops(keras.Sequential([keras.layers.Dense(2)]))


@pytest.mark.parametrize("pool, kind, pool_size, strides, padding", [
    (lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"), "average pooling", (2, 2), (2, 2), "valid"),
    (lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"), "max pooling", (3, 3), (2, 2), "same"),
    (lambda x: tf.nn.avg_pool(x, [2, 3], [2, 1], "VALID"), "average pooling", (2, 3), (2, 1),
     "valid"),
    (lambda x: tf.nn.max_pool(x, 2, 2, "VALID"), "max pooling", (2, 2), (2, 2), "valid"),
    (lambda x: tf.nn.pool(x, [2, 2], "AVG", strides=[2, 2], padding="VALID"),
     "average pooling", (2, 2), (2, 2), "valid"),
    (lambda x: keras.ops.average_pool(x, 2, 2, "same"), "average pooling", (2, 2), (2, 2),
     "same"),
    (lambda x: keras.ops.max_pool(x, 2, 1), "max pooling", (2, 2), (1, 1), "valid"),
])
def test_raw_pooling_in_call_is_traced(pool, kind, pool_size, strides, padding):
    """Is pooling with tf.nn / keras.ops inside call() an op with its window, strides, padding?"""

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3)

        def call(self, X, training=None):
            return pool(keras.ops.sigmoid(self.conv(X)))

    net = Net()
    net(tf.zeros((1, 8, 8, 1)))
    ops = models.trace_ops(net, (8, 8, 1))
    assert _kinds(ops) == ["convolution", "activation", kind]
    assert ops[1].attr("activation") == "sigmoid"
    assert ops[2].attr("pool_size") == pool_size
    assert ops[2].attr("strides") == strides
    assert ops[2].attr("padding") == padding


def test_raw_max_pool_lenet_is_reported_as_max_pooling():
    """Is a subclassed LeNet with tf.nn.max_pool2d reported as 'found max pooling'?"""
    wrong = ch07_cnn.lenet_tf_nn_pool(tf.nn.max_pool2d)
    result, mismatch = models.compare_structure(models.trace_ops(wrong, LENET_INPUT),
                                                models.trace_ops(kerasdl.lenet()))
    assert not result.passed
    assert "layer 3: expected average pooling 2x2" in result.message
    assert mismatch.found.kind == "max pooling"
