"""Tests of `kerasdl.seeding.set_seed`."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl


def _draws():
    """One unseeded draw from each generator the course uses."""
    return np.array(
        [
            random.random(),
            np.random.rand(),
            float(tf.random.uniform(())),
            float(keras.random.uniform(())),
            float(kerasdl.dropout_layer(tf.ones((1000,)), 0.5).numpy().mean()),
        ]
    )


def test_set_seed_repeats_every_generator():
    """Does set_seed make Python, NumPy, TensorFlow and Keras draws repeat?"""
    kerasdl.set_seed(42)
    first = _draws()
    kerasdl.set_seed(42)
    second = _draws()
    np.testing.assert_array_equal(first, second)


def test_different_seeds_differ():
    """Do different seeds give different draws for every generator?"""
    kerasdl.set_seed(1)
    first = _draws()
    kerasdl.set_seed(2)
    second = _draws()
    assert np.all(first[:4] != second[:4])


def test_set_seed_rejects_bad_seeds():
    """Are a float and a negative seed refused with pinned messages?"""
    with pytest.raises(TypeError, match=r"`seed` must be an int. Received: seed=1.5"):
        kerasdl.set_seed(1.5)
    with pytest.raises(ValueError, match=r"`seed` must be in \[0, 2\*\*32\). Received: seed=-1"):
        kerasdl.set_seed(-1)
