"""Tests of `grader.models`: canonical op sequences, structure comparison, counts and
weight transfer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl
from grader import models
from tests.grader.fixtures import ch07_cnn, ch08_batchnorm_resnet, ch08_modern_cnn

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
    names = [v.path.split("/")[-1] for v in models.ordered_weights(op.layer, op.kind)]
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


# Dtype policies a course model may use: the default, mixed precision, float64.
STAND_IN_POLICIES = ("float32", "mixed_float16", "float64")
STAND_IN_INPUT = (8, 8, 3)


def _every_stand_in_class_net(policy):
    """A functional net with one layer of every `_STAND_IN_CALLS` class, in `policy`."""
    L = keras.layers
    inputs = keras.Input(STAND_IN_INPUT)
    x = L.Conv2D(4, 3, padding="same", activation="relu", dtype=policy)(inputs)
    x = L.BatchNormalization(dtype=policy)(x)
    x = L.ReLU(dtype=policy)(x)
    x = L.MaxPooling2D(2, dtype=policy)(x)
    x = L.AveragePooling2D(2, dtype=policy)(x)
    x = L.Concatenate(dtype=policy)([L.GlobalAveragePooling2D(dtype=policy)(x),
                                     L.GlobalMaxPooling2D(dtype=policy)(x),
                                     L.Flatten(dtype=policy)(x)])
    x = L.Dropout(0.5, dtype=policy)(x)
    x = L.Dense(5, activation="sigmoid", dtype=policy)(x)
    x = L.Activation("tanh", dtype=policy)(x)
    return keras.Model(inputs, L.Softmax(dtype=policy)(x))


@pytest.mark.parametrize("policy", STAND_IN_POLICIES)
def test_stand_ins_have_the_real_outputs_shape_and_dtype(policy):
    """Does every stand-in output have the shape and dtype of the layer's real call?"""
    net = _every_stand_in_class_net(policy)
    layers = [layer for layer in net.layers if models.trace._stands_in(layer, layer.call)]
    assert {type(layer) for layer in layers} == set(models.trace._STAND_IN_CALLS)
    for layer in layers:
        spec = tf.TensorSpec((1, *layer.input.shape[1:]), layer.compute_dtype)

        def both(x, layer=layer):
            real = layer(x)  # __call__: in mixed precision, reads the kernel as float16
            stand_in = models.trace._stand_in_output(layer, (x,), {})
            assert stand_in is not None, type(layer).__name__
            assert stand_in.op.type != "Const"
            assert (stand_in.shape, stand_in.dtype) == (real.shape, real.dtype), layer.name
            return real

        tf.function(both, autograph=False).get_concrete_function(spec)


STAND_IN_NETS = {
    "lenet": lambda: (ch07_cnn.lenet(), LENET_INPUT),
    "lenet subclass": lambda: (ch07_cnn.lenet_subclass(), LENET_INPUT),
    "lenet tf.nn pooling": lambda: (ch07_cnn.lenet_tf_nn_pool(), LENET_INPUT),
    "bn_lenet": lambda: (ch08_batchnorm_resnet.bn_lenet(), LENET_INPUT),
    "googlenet": lambda: (ch08_modern_cnn.googlenet(), (96, 96, 1)),
    "reversed Inception": lambda: (ch08_modern_cnn.InceptionPathsReversed(
        2, (2, 3), (1, 2), 2), (6, 6, 3)),
    "nin": lambda: (ch08_modern_cnn.nin(), (224, 224, 1)),
    "resnet18": lambda: (ch08_batchnorm_resnet.resnet18(), (96, 96, 1)),
    "Residual shortcut first": lambda: (ch08_batchnorm_resnet.ResidualShortcutFirst(
        3, True, 2), (4, 4, 3)),
    "Residual twice": lambda: (ch08_batchnorm_resnet.ResidualTwice(3), (4, 4, 3)),
    **{f"every stand-in class, {policy}": lambda policy=policy: (
        _every_stand_in_class_net(policy), STAND_IN_INPUT) for policy in STAND_IN_POLICIES},
}


@pytest.mark.parametrize("name", sorted(STAND_IN_NETS))
def test_stand_in_trace_equals_the_full_trace(name):
    """Are the ops traced with stand-ins those traced running every layer's call?"""
    net, input_shape = STAND_IN_NETS[name]()
    if not net.built or models.input_shape_of(net) is None:
        net(tf.zeros((1, *input_shape)), training=False)
    ops = models.trace_ops(net, input_shape)
    assert ops == models.trace_ops(net, input_shape, stand_ins=False)
    assert [op.layer for op in ops] == [
        op.layer for op in models.trace_ops(net, input_shape, stand_ins=False)]


def test_stand_ins_are_not_constants_in_graph_ops():
    """Do Maximum and + of two convolutions stay non-constant (no relu, one addition)?"""

    class TwoPaths(keras.Model):
        def __init__(self):
            super().__init__()
            self.a = keras.layers.Conv2D(2, 3, padding="same")
            self.b = keras.layers.Conv2D(2, 1)

        def call(self, X, training=None):
            Y, Z = self.a(X), self.b(X)
            return tf.maximum(Y, Z) + tf.maximum(Y, 0.0) + 1.0

    net = TwoPaths()
    net(tf.zeros((1, 5, 5, 2)))
    ops = models.trace_ops(net, (5, 5, 2))
    assert _kinds(ops) == ["convolution", "convolution", "activation", "addition"]
    assert ops == models.trace_ops(net, (5, 5, 2), stand_ins=False)


def test_student_code_in_a_leaf_layer_runs_during_the_trace():
    """Do a Conv2D subclass, a student's activation (also one set by code run during
    the trace) and a replaced method run when traced?"""
    calls = []
    armed = []

    def traced(what):
        if not tf.executing_eagerly():
            calls.append(what)

    class OwnConv(keras.layers.Conv2D):
        def call(self, inputs):
            traced("subclass")
            return super().call(inputs)

    def sigmoid(x):
        traced("activation")
        return tf.sigmoid(x)

    def late_sigmoid(x):
        traced("activation set during the trace")
        return tf.sigmoid(x)

    class SetsActivation(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 1)

        def call(self, X):
            if armed:
                self.conv.activation = late_sigmoid
            return self.conv(X)

    replaced = keras.layers.Conv2D(2, 1)
    convolution_op = replaced.convolution_op

    def own_convolution_op(inputs, kernel):
        traced("convolution_op")
        return convolution_op(inputs, kernel)

    replaced.convolution_op = own_convolution_op
    net = keras.Sequential([keras.Input((6, 6, 1)), OwnConv(2, 3),
                            keras.layers.Conv2D(2, 1, activation=sigmoid), replaced,
                            SetsActivation()])
    calls.clear()  # building the Sequential traced them symbolically
    armed.append(True)
    models.trace_ops(net)
    assert calls == ["subclass", "activation", "convolution_op",
                     "activation set during the trace"]
