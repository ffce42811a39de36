"""Checks of chapter 8 (first part), Modern convolutional networks.

Models are compared with the reference through `grader.models`: parameter
counts (no forward pass), the canonical layer sequence (so functional,
nested and subclassed models pass) and the outputs after copying the
reference's seeded weights into the student's layers. Large models are
checked on the cheapest input that proves the point: AlexNet by counts,
structure and symbolic output shape only (running it is not needed); VGG
with a tiny `conv_arch`; GoogLeNet on 32x32 inputs. `Inception` is a layer:
output shapes for several arguments, its structure, and its outputs with
the reference's weights.

Source: notes, 8.1 AlexNet, 8.2 VGG, 8.3 NiN, 8.4 GoogLeNet.
"""

import keras
import tensorflow as tf

import kerasdl
from grader.compare import Comparison, to_array
from grader.models import (
    ModelCases,
    build_layer_pair,
    compare_outputs,
    compare_structure,
    copy_reference_weights,
    mismatch_hint,
    seeded_reference,
)
from grader.registry import exercise

CHAPTER = "ch08_modern_cnn"

# Parameter counts for one input channel and 10 classes (FACTS.md).
ALEXNET_COUNTS = (46_764_746, 0)
NIN_COUNTS = (1_992_166, 0)
GOOGLENET_COUNTS = (5_977_530, 0)
IMAGENET_GRAY = (224, 224, 1)
RESIZED_96 = (96, 96, 1)
# GoogLeNet's strides divide the size by 32: 32x32 inputs still reach the
# global pooling with 1x1 maps, at a ninth of the cost of 96x96.
GOOGLENET_EVAL = (32, 32, 1)
# Tiny VGG architectures: five blocks bring 224 down to 7, as in VGG-11, with
# few channels, so the model builds and runs in well under a second.
TINY_VGG_ARCH = ((1, 4), (1, 4), (2, 8), (1, 8), (2, 8))
TINY_VGG_ARCH_HIDDEN = ((2, 2), (1, 4), (1, 4), (2, 6), (1, 6))


# alexnet ---------------------------------------------------------------------------


def _alexnet_hints(mismatch):
    found = mismatch.found
    expected = mismatch.expected
    if expected is not None and found is not None and expected.kind == "convolution" \
            and found.kind == "convolution" and expected.attr("kernel_size") == (11, 11) \
            and expected.attr("strides") != found.attr("strides"):
        return "the first convolution is 11x11 with stride 4"
    return None


@exercise("alexnet", chapter=CHAPTER, points=3, reference=kerasdl.alexnet, kind="model")
def alexnet_cases(c):
    """AlexNet: counts, structure and output shape (no forward pass at 224x224)."""
    cases = ModelCases(input_shape=IMAGENET_GRAY, hints=[_alexnet_hints], what="your AlexNet")
    c.custom("46,764,746 parameters", cases.counts(ALEXNET_COUNTS))
    c.custom("layer-by-layer structure", cases.structure(), weight=2)
    c.custom("output (2, 10) logits", cases.output_shape())


# vgg_block -------------------------------------------------------------------------


def _block_cases(c, args, input_shape, *, what, hidden=False, training=False):
    cases = ModelCases(args, input_shape=input_shape, batch=3, what=what)
    # A hidden case is named by what it tests, not by its arguments.
    label = "other arguments:" if hidden else "(" + ", ".join(repr(a) for a in args) + ")"
    on = "" if hidden else f" on {input_shape}"
    c.custom(f"{label} structure", cases.structure(), hidden=hidden)
    c.custom(f"{label} outputs{on}", cases.outputs(), hidden=hidden)
    if training:
        c.custom(f"{label} training mode", cases.training(), hidden=hidden)


@exercise("vgg_block", chapter=CHAPTER, points=2, reference=kerasdl.vgg_block, kind="model")
def vgg_block_cases(c):
    """A VGG block: 3x3 same relu convs, then 2x2 max pooling; outputs compared."""
    _block_cases(c, (1, 4), (8, 8, 3), what="your block")
    _block_cases(c, (2, 6), (6, 10, 2), what="your block")
    _block_cases(c, (3, 5), (4, 4, 1), what="your block", hidden=True)


# vgg -------------------------------------------------------------------------------


@exercise("vgg", chapter=CHAPTER, points=3, reference=kerasdl.vgg, kind="model")
def vgg_cases(c):
    """VGG from a tiny `conv_arch`: counts, structure, outputs, dropout in training."""
    cases = ModelCases((TINY_VGG_ARCH,), input_shape=IMAGENET_GRAY, batch=1, what="your VGG")
    c.custom("tiny conv_arch: parameter counts", cases.counts())
    c.custom("tiny conv_arch: layer-by-layer structure", cases.structure())
    c.custom("tiny conv_arch: same outputs with the reference's weights", cases.outputs())
    c.custom("tiny conv_arch: dropout active in training", cases.training(dropout=True))
    hidden = ModelCases((TINY_VGG_ARCH_HIDDEN,), input_shape=IMAGENET_GRAY, batch=1,
                        what="your VGG")
    c.custom("another conv_arch: structure", hidden.structure(), hidden=True)


# nin_block -------------------------------------------------------------------------


@exercise("nin_block", chapter=CHAPTER, points=2, reference=kerasdl.nin_block, kind="model")
def nin_block_cases(c):
    """A NiN block: conv then two 1x1 convs, all relu; outputs compared."""
    _block_cases(c, (8, 5, 2, "valid"), (11, 11, 3), what="your block")
    _block_cases(c, (6, 3, 1, "same"), (7, 9, 2), what="your block")
    _block_cases(c, (4, 3, 3, "valid"), (10, 8, 1), what="your block", hidden=True)


# nin -------------------------------------------------------------------------------


def _nin_hints(mismatch):
    expected, found = mismatch.expected, mismatch.found
    if expected is not None and expected.kind == "global average pooling" and (
            found is None or found.kind != "global average pooling"):
        return ("NiN ends with the last NiN block (num_classes channels) and global "
                "average pooling, no dense layer")
    return None


@exercise("nin", chapter=CHAPTER, points=3, reference=kerasdl.nin, kind="model")
def nin_cases(c):
    """NiN: counts, structure, outputs, dropout in training."""
    cases = ModelCases(input_shape=IMAGENET_GRAY, batch=1, hints=[_nin_hints],
                       what="your NiN")
    c.custom("1,992,166 parameters", cases.counts(NIN_COUNTS))
    c.custom("layer-by-layer structure", cases.structure())
    c.custom("same outputs with the reference's weights", cases.outputs())
    c.custom("dropout active in training", cases.training(dropout=True), hidden=True)


# Inception -------------------------------------------------------------------------


def _inception_path4_c1(args):
    c1, c2, c3, c4 = args
    return c1 + c2[1] + c3[1] + c1


def _inception_shape_case(args, input_shape):
    """Case: output shape `(N, H, W, c1 + c2[1] + c3[1] + c4)`."""

    def run(ctx):
        layer = ctx.student(*args)
        if not ctx.is_instance(layer, keras.layers.Layer):
            name = getattr(layer, "type_name", None) or type(layer).__name__
            ctx.fail(f"Inception(...) is a {name}, not a keras.layers.Layer")
        X = tf.constant(ctx.rng.uniform(size=(2, *input_shape)), dtype="float32")
        got = tuple(to_array(ctx.guard(layer, X), "your output").shape)
        c1, c2, c3, c4 = args
        want = (2, *input_shape[:2], c1 + c2[1] + c3[1] + c4)
        if got != want:
            hint = None
            if got[-1] == _inception_path4_c1(args):
                hint = "path 4 (max pooling, then 1x1 conv) has c4 channels, not c1"
            elif got[1:3] != want[1:3]:
                hint = "keep height and width: padding='same' and stride 1 on every path"
            ctx.fail(f"your layer maps {(2, *input_shape)} to {got}, expected {want}",
                     hint=hint)
        return Comparison(True, f"your layer maps {(2, *input_shape)} to {got}")

    return run


def _inception_hints(mismatch):
    expected, found = mismatch.expected, mismatch.found
    previous = mismatch.previous
    if expected is not None and found is not None and expected.kind == found.kind == \
            "convolution" and previous is not None and previous.kind == "max pooling" \
            and previous.attr("strides") == (1, 1):
        return "path 4 (max pooling, then 1x1 conv) has c4 channels, not c1"
    if expected is not None and expected.kind == "max pooling" and (
            found is None or found.kind != "max pooling"):
        return "path 4 starts with 3x3 max pooling, stride 1, padding='same'"
    return None


def _inception_outputs_case(args, input_shape):
    """Case: same structure and outputs as the reference after copying its weights."""

    def run(ctx):
        X = tf.constant(ctx.rng.uniform(size=(2, *input_shape)), dtype="float32")
        layer, reference, student_ops, reference_ops = build_layer_pair(
            ctx, args, X, input_shape)
        structure, mismatch = compare_structure(student_ops, reference_ops,
                                                what="your layer")
        hint = mismatch_hint(mismatch, [_inception_hints])
        copy_reference_weights(ctx, reference_ops, student_ops, hint=hint)
        got = ctx.guard(layer, X, training=False)
        want = ctx.remember("reference output", lambda: seeded_reference(
            reference, reference_ops)(X, training=False))
        result = compare_outputs(got, want, what="your output", hidden=ctx.hidden)
        result.raise_if_failed(hint=hint or "concatenate the paths in order 1, 2, 3, 4 on "
                                            "the channel axis; relu after every conv")
        structure.raise_if_failed(hint=hint)
        return result

    return run


@exercise("Inception", chapter=CHAPTER, points=3, reference=kerasdl.Inception, kind="class")
def inception_cases(c):
    """Inception layer: output channels, four paths, outputs with the reference's weights."""
    notes = (64, (96, 128), (16, 32), 32)
    small = (4, (2, 6), (3, 5), 7)
    c.custom("notes' block on (12, 12, 192): 256 channels",
             _inception_shape_case(notes, (12, 12, 192)))
    c.custom("(4, (2, 6), (3, 5), 7) on (6, 7, 5): 22 channels",
             _inception_shape_case(small, (6, 7, 5)))
    c.custom("(4, (2, 6), (3, 5), 7): outputs", _inception_outputs_case(small, (6, 7, 5)),
             weight=2)
    c.custom("other channel counts: outputs",
             _inception_outputs_case((3, (4, 2), (2, 3), 5), (5, 5, 3)), hidden=True)


# googlenet -------------------------------------------------------------------------


@exercise("googlenet", chapter=CHAPTER, points=3, reference=kerasdl.googlenet, kind="model",
          reuses=("Inception",))
def googlenet_cases(c):
    """GoogLeNet: counts, structure and outputs (on 32x32 inputs)."""
    cases = ModelCases(input_shape=RESIZED_96, eval_shape=GOOGLENET_EVAL, batch=1,
                       hints=[_inception_hints], what="your GoogLeNet")
    c.custom("5,977,530 parameters", cases.counts(GOOGLENET_COUNTS))
    c.custom("layer-by-layer structure", cases.structure())
    c.custom("same outputs with the reference's weights", cases.outputs())
