"""Tests of `kerasdl.training`: train_step, the compiled step, epochs, History."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
L2_COEF = 0.05
LR = 0.1


def _loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _dense_net(seed, regularizer=None, num_inputs=4, num_outputs=3):
    return keras.Sequential(
        [
            keras.Input((num_inputs,)),
            keras.layers.Dense(
                num_outputs,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                kernel_regularizer=regularizer,
            ),
        ]
    )


def _classification_data(n, num_inputs=4, num_outputs=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, num_inputs)).astype(np.float32)
    y = rng.integers(0, num_outputs, size=n).astype(np.int32)
    return X, y


def test_train_step_returns_loss_including_net_losses():
    """Is the returned loss the data loss plus the L2 penalty, before the update?"""
    X, y = _classification_data(8)
    net = _dense_net(0, keras.regularizers.L2(L2_COEF))
    kernel = net.layers[-1].kernel.numpy().copy()
    data_loss = _loss_fn()(y, net(X)).numpy()
    expected = data_loss + L2_COEF * np.sum(kernel.astype(np.float64) ** 2)
    loss = kerasdl.train_step(net, _loss_fn(), keras.optimizers.SGD(LR), X, y)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.numpy(), expected, rtol=FLOAT32_RTOL)


def test_regularizer_changes_the_gradient():
    """Does kernel_regularizer=L2(c) add 2 c w to the gradient of the step?"""
    X, y = _classification_data(8)
    plain, decayed = _dense_net(0), _dense_net(0, keras.regularizers.L2(L2_COEF))
    w0 = plain.layers[-1].kernel.numpy().copy()
    np.testing.assert_array_equal(decayed.layers[-1].kernel.numpy(), w0)
    kerasdl.train_step(plain, _loss_fn(), keras.optimizers.SGD(LR), X, y)
    kerasdl.train_step(decayed, _loss_fn(), keras.optimizers.SGD(LR), X, y)
    difference = decayed.layers[-1].kernel.numpy() - plain.layers[-1].kernel.numpy()
    np.testing.assert_allclose(difference, -LR * 2 * L2_COEF * w0, rtol=1e-4, atol=FLOAT32_ATOL)


def test_train_step_averages_per_example_loss():
    """Is a reduction=None loss averaged to a scalar?"""
    X, y = _classification_data(8)
    net = _dense_net(0)
    expected = _loss_fn()(y, net(X)).numpy()
    per_example = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    loss = kerasdl.train_step(net, per_example, keras.optimizers.SGD(0.0), X, y)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=FLOAT32_RTOL)


def _dropout_net():
    """Exact on one-hot inputs at inference; Dropout(0.9) ruins it in training."""
    return keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dropout(0.9, seed=0),
            keras.layers.Dense(10, kernel_initializer="identity", use_bias=False),
        ]
    )


def test_training_drops_out_and_evaluation_does_not():
    """Does the training loop apply dropout while evaluate_accuracy does not?"""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=1000).astype(np.int32)
    X = np.eye(10, dtype=np.float32)[y]
    train_iter = tf.data.Dataset.from_tensor_slices((X, y)).batch(100)
    net = _dropout_net()
    stats = kerasdl.train_epoch(net, train_iter, _loss_fn(), keras.optimizers.SGD(0.0))
    # With 90% of the single 1 dropped, about 0.1 + 0.9 * 0.1 = 0.19 are right.
    assert stats["train_acc"] < 0.5
    np.testing.assert_allclose(kerasdl.evaluate_accuracy(net, train_iter), 1.0)


def test_batch_norm_statistics_move_only_in_training():
    """Do moving statistics change in train_step and stay put in evaluation?"""
    rng = np.random.default_rng(0)
    X = (5.0 + rng.standard_normal((64, 4))).astype(np.float32)
    y = rng.integers(0, 3, size=64).astype(np.int32)
    bn = keras.layers.BatchNormalization(momentum=0.5)
    net = keras.Sequential([keras.Input((4,)), bn, keras.layers.Dense(3)])
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(4))
    kerasdl.train_step(net, _loss_fn(), keras.optimizers.SGD(LR), X, y)
    # One step with momentum 0.5 from 0: half of the batch mean (about 5).
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * X.mean(axis=0), rtol=FLOAT32_RTOL)
    moving_mean = bn.moving_mean.numpy().copy()
    moving_var = bn.moving_variance.numpy().copy()
    kerasdl.evaluate_accuracy(net, [(X, y)])
    np.testing.assert_array_equal(bn.moving_mean.numpy(), moving_mean)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), moving_var)


def test_compiled_step_does_not_retrace_on_ragged_batches(quiet):
    """Is the step traced once for batches of 4, 4 and 2 (and silently)?"""
    X, y = _classification_data(10)
    net = _dense_net(0)
    step = kerasdl.make_train_step(net, _loss_fn(), keras.optimizers.SGD(LR))
    with quiet():
        for X_batch, y_batch in tf.data.Dataset.from_tensor_slices((X, y)).batch(4):
            step(X_batch, y_batch)
        step(X[:3], y[:3])
        step(X[:1], y[:1])
    assert step.experimental_get_tracing_count() == 1
    assert step.result()["num_examples"] == 14


def test_compiled_step_matches_eager_train_step():
    """Does the compiled step give the same loss and weights as train_step?"""
    X, y = _classification_data(16)
    eager, compiled = _dense_net(3, keras.regularizers.L2(L2_COEF)), _dense_net(3, keras.regularizers.L2(L2_COEF))
    step = kerasdl.make_train_step(compiled, _loss_fn(), keras.optimizers.SGD(LR))
    eager_opt = keras.optimizers.SGD(LR)
    for _ in range(3):
        eager_loss = kerasdl.train_step(eager, _loss_fn(), eager_opt, X, y)
        compiled_loss = step(X, y)
        np.testing.assert_allclose(compiled_loss.numpy(), eager_loss.numpy(), rtol=FLOAT32_RTOL)
    for a, b in zip(eager.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_eager_step_matches_compiled_step_and_traces_nothing():
    """Does run_eagerly=True give the compiled step's losses, weights and statistics untraced?"""
    X, y = _classification_data(20)
    eager, compiled = _dense_net(3, keras.regularizers.L2(L2_COEF)), _dense_net(3, keras.regularizers.L2(L2_COEF))
    eager_step = kerasdl.make_train_step(eager, _loss_fn(), keras.optimizers.SGD(LR), run_eagerly=True)
    compiled_step = kerasdl.make_train_step(compiled, _loss_fn(), keras.optimizers.SGD(LR))
    for start in (0, 8, 16):  # batches of 8, 8 and 4
        batch = slice(start, start + 8)
        np.testing.assert_allclose(eager_step(X[batch], y[batch]).numpy(),
                                   compiled_step(X[batch], y[batch]).numpy(), rtol=FLOAT32_RTOL)
    for a, b in zip(eager.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    eager_stats, compiled_stats = eager_step.result(), compiled_step.result()
    assert eager_stats["num_examples"] == compiled_stats["num_examples"] == 20
    for key in ("loss", "train_acc"):
        np.testing.assert_allclose(eager_stats[key], compiled_stats[key], rtol=FLOAT32_RTOL)
    assert eager_step.experimental_get_tracing_count() == 0


def test_train_run_eagerly_matches_the_compiled_loop():
    """Does train(run_eagerly=True) give the same History, and refuse run_eagerly with XLA?"""
    train_iter, test_iter = _separable_iters()
    batches = list(train_iter)  # one fixed order for both runs
    histories = [kerasdl.train(_dense_net(0), batches, test_iter, 2, keras.optimizers.SGD(0.5),
                               verbose=False, run_eagerly=run_eagerly)
                 for run_eagerly in (False, True)]
    for key in ("loss", "train_acc", "test_acc"):
        np.testing.assert_allclose(getattr(histories[1], key), getattr(histories[0], key),
                                   rtol=FLOAT32_RTOL)
    with pytest.raises(ValueError, match="`jit_compile` and `run_eagerly` cannot both be True"):
        kerasdl.train(_dense_net(0), batches, None, 1, keras.optimizers.SGD(LR),
                      jit_compile=True, run_eagerly=True)


def test_train_epoch_counts_actual_examples_and_weighted_loss():
    """Are 1000 examples (not 4 * 256) counted, and the loss the overall mean?"""
    X, y = _classification_data(1000)
    net = _dense_net(0)
    expected_loss = _loss_fn()(y, net(X)).numpy()
    train_iter = tf.data.Dataset.from_tensor_slices((X, y)).batch(256)
    stats = kerasdl.train_epoch(net, train_iter, _loss_fn(), keras.optimizers.SGD(0.0))
    assert stats["num_examples"] == 1000
    assert stats["seconds"] > 0
    np.testing.assert_allclose(stats["loss"], expected_loss, rtol=FLOAT32_RTOL)
    expected_acc = kerasdl.accuracy(net(X), y) / 1000
    np.testing.assert_allclose(stats["train_acc"], expected_acc)


def test_train_epoch_rejects_step_of_other_net():
    """Is a TrainStep made for another network refused?"""
    step = kerasdl.make_train_step(_dense_net(0), _loss_fn(), keras.optimizers.SGD(LR))
    with pytest.raises(ValueError, match=r"`step` must be a TrainStep made for `net`. Received: step for"):
        kerasdl.train_epoch(_dense_net(1), [], _loss_fn(), keras.optimizers.SGD(LR), step=step)


def _separable_iters():
    """Linearly separable 3-class data: class = argmax of the first 3 features."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 4)).astype(np.float32)
    y = np.argmax(X[:, :3], axis=1).astype(np.int32)
    train_iter = tf.data.Dataset.from_tensor_slices((X[:500], y[:500])).shuffle(500, seed=0).batch(64)
    test_iter = tf.data.Dataset.from_tensor_slices((X[500:], y[500:])).batch(64)
    return train_iter, test_iter


def test_train_learns_and_reports_history(capsys):
    """Does train learn separable data, fill History and print to stdout only?"""
    train_iter, test_iter = _separable_iters()
    net = _dense_net(0)
    history = kerasdl.train(net, train_iter, test_iter, 3, keras.optimizers.SGD(0.5))
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("epoch ") == 3
    assert len(history.loss) == len(history.train_acc) == len(history.test_acc) == 3
    assert history.loss[-1] < history.loss[0]
    assert history.test_acc[-1] > 0.8
    np.testing.assert_allclose(history.test_acc[-1], kerasdl.evaluate_accuracy(net, test_iter))
    assert all(rate > 0 for rate in history.examples_per_sec)


def test_train_quiet_and_defaults():
    """Does verbose=False print nothing, and does loss_fn default to CE from logits?"""
    train_iter, _ = _separable_iters()
    history = kerasdl.train(_dense_net(0), train_iter, None, 1, keras.optimizers.SGD(0.0), verbose=False)
    batches = list(train_iter)  # one pass: the shuffle differs between passes
    X = np.concatenate([x for x, _ in batches])
    y = np.concatenate([t for _, t in batches])
    expected = _loss_fn()(y, _dense_net(0)(X)).numpy()
    np.testing.assert_allclose(history.loss[0], expected, rtol=FLOAT32_RTOL)
    assert np.isnan(history.test_acc[0])


def test_train_rejects_bad_num_epochs():
    """Is num_epochs=0 refused with the argument named?"""
    with pytest.raises(ValueError, match=r"`num_epochs` must be a positive int. Received: num_epochs=0"):
        kerasdl.train(_dense_net(0), [], None, 0, keras.optimizers.SGD(LR))


def test_history_frame_and_plot():
    """Does History give a per-epoch DataFrame and a Figure with three lines?"""
    history = kerasdl.History(
        loss=[1.0, 0.5], train_acc=[0.6, 0.8], test_acc=[0.55, 0.75], examples_per_sec=[100.0, 120.0]
    )
    frame = history.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [1, 2] and frame.index.name == "epoch"
    assert list(frame.columns) == ["loss", "train_acc", "test_acc", "examples_per_sec"]
    np.testing.assert_allclose(frame["test_acc"].to_numpy(), [0.55, 0.75])
    fig = history.plot()
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].lines) == 3


def test_many_short_trainings_log_no_retracing_warning(quiet):
    """Do several fresh steps, each called on ragged batches, stay silent?"""
    X, y = _classification_data(5)
    with quiet():
        for seed in range(8):
            step = kerasdl.make_train_step(_dense_net(seed), _loss_fn(), keras.optimizers.SGD(LR))
            for n in (5, 3, 2):
                step(X[:n], y[:n])
        for seed in range(8):
            kerasdl.train_linreg(X, X[:, :1], 0.03, 1, 2, seed=seed)


# XLA reorders float32 reductions: its losses agree with the plain graph's to
# about 1e-5 relative after a few SGD steps.
XLA_RTOL = 1e-4


def test_train_with_xla_matches_the_plain_graph(quiet):
    """Does train(jit_compile=True) give the same history as the plain compiled step?"""
    X, y = _classification_data(50)
    # Unshuffled, so both runs see the same batches; 50 = 3 * 16 + 2: a ragged last batch.
    data_iter = tf.data.Dataset.from_tensor_slices((X, y)).batch(16)
    plain = kerasdl.train(_dense_net(0), data_iter, data_iter, 2, keras.optimizers.SGD(0.5),
                          verbose=False)
    xla = kerasdl.train(_dense_net(0), data_iter, data_iter, 2, keras.optimizers.SGD(0.5),
                        verbose=False, jit_compile=True)
    np.testing.assert_allclose(xla.loss, plain.loss, rtol=XLA_RTOL)
    np.testing.assert_allclose(xla.test_acc, plain.test_acc, rtol=XLA_RTOL)
