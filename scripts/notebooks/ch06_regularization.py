# %% [markdown]
# # Chapter 6: Regularization
#
# Source: notes, 3.6 Generalization (K-fold cross-validation), 3.7 Weight Decay,
# 5.6 Dropout.
#
# You write K-fold splitting, the $\ell_2$ penalty and the weight-decay update, and
# inverted dropout, first as a function and then inside a Keras model.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `k_fold_data` above to see this", instead of running, so *Run All* always reaches
# the end.

# %%
import os

import grader

grader.quiet_tensorflow()  # load TensorFlow without its C++ start-up messages

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import kerasdl

%matplotlib inline

# Under nbgrader (autograde/validate) the training demonstrations use a small budget.
GRADING = "NBGRADER_EXECUTION" in os.environ
kerasdl.set_seed(0)
print(kerasdl.describe_device())

# %% [markdown]
# ## K-fold cross-validation
#
# With little data, split the $n$ examples into $K$ folds of
# $\lfloor n / K \rfloor$ rows (a remainder of fewer than $K$ rows is dropped), train
# on $K-1$ folds and validate on the remaining one, for each of the $K$ choices.
#
# **Exercise (`k_fold_data`).** Fold `i` (rows `i*fold_size` to `(i+1)*fold_size`) is the
# validation set; the other folds, in their original order, are the training set.
# Return `(X_train, y_train, X_valid, y_valid)`.

# %% solution k_fold_data
def k_fold_data(k, i, X, y):
    """The i-th of k folds as validation data, the other folds as training data."""
    ### BEGIN SOLUTION
    fold_size = X.shape[0] // k
    X_train, y_train, X_valid, y_valid = [], [], None, None
    for j in range(k):
        rows = slice(j * fold_size, (j + 1) * fold_size)
        if j == i:
            X_valid, y_valid = X[rows], y[rows]
        else:
            X_train.append(X[rows])
            y_train.append(y[rows])
    return tf.concat(X_train, axis=0), tf.concat(y_train, axis=0), X_valid, y_valid
    ### END SOLUTION

# %% test k_fold_data

# %%
X = tf.reshape(tf.range(22.0), (11, 2))
y = tf.range(11)
if grader.done(k_fold_data):
    X_train, y_train, X_valid, y_valid = k_fold_data(5, 1, X, y)
    print(y_train, y_valid, sep="\n")

# %% [markdown]
# ## 3.7 Weight decay
#
# Weight decay adds the squared norm of the weights to the loss:
# $L(\mathbf{w}, b) + \frac{\lambda}{2}\|\mathbf{w}\|^2$. The notes' penalty **has the
# factor 1/2**; Keras' `regularizers.L2(c)` computes $c \sum w_i^2$ without it, so
# `L2(lambd / 2)` matches the notes.
#
# **Exercise (`l2_penalty`).** Return $\sum_i w_i^2 / 2$.

# %% solution l2_penalty
def l2_penalty(w):
    """Half the squared l2 norm of w."""
    ### BEGIN SOLUTION
    return tf.reduce_sum(tf.convert_to_tensor(w) ** 2) / 2
    ### END SOLUTION

# %% test l2_penalty

# %%
w = tf.constant([1.0, 2.0, 3.0])
if grader.done(l2_penalty):
    print(f"l2_penalty: {float(l2_penalty(w))}, "
          f"keras L2(0.01): {float(keras.regularizers.L2(0.01)(w)):.2f}")

# %% [markdown]
# For SGD with learning rate $\eta$, the penalty's gradient $\lambda \mathbf{w}$ shrinks
# the weights before the usual step, hence "weight decay":
#
# $$\mathbf{w} \leftarrow (1 - \eta\lambda)\,\mathbf{w} - \eta\, \mathbf{g} .$$
#
# **Exercise (`sgd_weight_decay`).** Return the updated weights for gradient `grad` of
# the unpenalized loss, learning rate `lr` and weight decay `wd`.

# %% solution sgd_weight_decay
def sgd_weight_decay(w, grad, lr, wd):
    """One SGD step with weight decay: (1 - lr*wd) w - lr grad."""
    ### BEGIN SOLUTION
    return (1 - lr * wd) * w - lr * grad
    ### END SOLUTION

# %% test sgd_weight_decay

# %% [markdown]
# ### High-dimensional linear regression
#
# The notes' experiment: 200 features but only 20 training examples, so the model
# overfits. With $\lambda = 3$ the test loss drops far below the unregularized one.

# %%
n_train, n_test, num_inputs, batch_size = 20, 100, 200, 5
true_w, true_b = tf.fill((num_inputs, 1), 0.01), 0.05
train_data = kerasdl.synthetic_data(true_w, true_b, n_train, seed=1)
test_data = kerasdl.synthetic_data(true_w, true_b, n_test, seed=2)
num_epochs, lr = (20, 0.003) if GRADING else (100, 0.003)


def train_weight_decay(lambd):
    w = tf.Variable(tf.random.normal((num_inputs, 1), seed=3))
    b = tf.Variable(tf.zeros(1))
    train_iter = kerasdl.load_array(train_data, batch_size, seed=4)
    for epoch in range(num_epochs):
        for X, y in train_iter:
            with tf.GradientTape() as tape:
                # The notes' squared loss, averaged over the batch.
                loss = tf.reduce_mean((X @ w + b - y) ** 2 / 2)
            dw, db = tape.gradient(loss, [w, b])
            w.assign(sgd_weight_decay(w, dw, lr, lambd))
            b.assign_sub(lr * db)
    train_loss = float(tf.reduce_mean((train_data[0] @ w + b - train_data[1]) ** 2 / 2))
    test_loss = float(tf.reduce_mean((test_data[0] @ w + b - test_data[1]) ** 2 / 2))
    print(f"lambda {lambd}: ||w||_2 = {float(tf.norm(w)):.3f}, "
          f"train loss {train_loss:.4f}, test loss {test_loss:.4f}")


if grader.done(sgd_weight_decay):
    for lambd in (0, 3):
        train_weight_decay(lambd)

# %% [markdown]
# ## 5.6 Dropout
#
# Inverted dropout zeroes each activation with probability $p$ and scales the survivors
# so the expectation is unchanged:
#
# $$h' = \begin{cases} 0 & \text{with probability } p \\
#   \dfrac{h}{1-p} & \text{otherwise} \end{cases}, \qquad \mathbb{E}[h'] = h .$$
#
# **Exercise (`dropout_layer`).** `dropout` is $p$: `0` returns `X` unchanged, `1` returns
# zeros, and a value outside $[0, 1]$ raises `ValueError`.

# %% solution dropout_layer
def dropout_layer(X, dropout):
    """Inverted dropout with drop probability `dropout`."""
    ### BEGIN SOLUTION
    if not 0 <= dropout <= 1:
        raise ValueError(f"dropout must be in [0, 1]. Received: dropout={dropout}")
    X = tf.convert_to_tensor(X)
    if dropout == 1:
        return tf.zeros_like(X)
    if dropout == 0:
        return X
    keep = tf.random.uniform(tf.shape(X)) >= dropout
    return tf.cast(keep, X.dtype) * X / (1.0 - dropout)
    ### END SOLUTION

# %% test dropout_layer

# %%
X = tf.reshape(tf.range(16.0), (2, 8))
if grader.done(dropout_layer):
    for p in (0.0, 0.5, 1.0):
        print(f"dropout {p}:", dropout_layer(X, p).numpy(), sep="\n")

# %% [markdown]
# **Exercise (`DropoutMLP`).** A `keras.Model`: `Flatten` -> `Dense(num_hiddens1, relu)`
# -> dropout `dropout1` -> `Dense(num_hiddens2, relu)` -> dropout `dropout2` ->
# `Dense(num_outputs)` (logits). Use your `dropout_layer`, and only when
# `training=True`: at inference the model is deterministic.

# %% solution DropoutMLP
class DropoutMLP(keras.Model):
    """MLP with two hidden layers and dropout after each, active only in training."""

    def __init__(self, num_outputs, num_hiddens1, num_hiddens2, dropout1, dropout2, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.dropout1 = dropout1
        self.dropout2 = dropout2
        self.flatten = keras.layers.Flatten()
        self.hidden1 = keras.layers.Dense(num_hiddens1, activation="relu")
        self.hidden2 = keras.layers.Dense(num_hiddens2, activation="relu")
        self.output_layer = keras.layers.Dense(num_outputs)
        ### END SOLUTION

    def call(self, X, training=None):
        ### BEGIN SOLUTION
        H1 = self.hidden1(self.flatten(X))
        if training:
            H1 = dropout_layer(H1, self.dropout1)
        H2 = self.hidden2(H1)
        if training:
            H2 = dropout_layer(H2, self.dropout2)
        return self.output_layer(H2)
        ### END SOLUTION

# %% test DropoutMLP

# %% [markdown]
# ### Training with dropout
#
# The notes: 256 hidden units in both layers, dropout 0.2 then 0.5, SGD with learning
# rate 0.5, batch size 256, 10 epochs. Under autograding the budget is cut to one epoch
# on a few hundred images.

# %%
batch_size, lr = 256, 0.5
num_epochs, num_train, num_test = (1, 512, 256) if GRADING else (10, None, None)
if grader.done(DropoutMLP, dropout_layer):  # your DropoutMLP calls your dropout_layer
    train_iter, test_iter = kerasdl.load_fashion_mnist(
        batch_size, num_train=num_train, num_test=num_test)
    net = DropoutMLP(10, 256, 256, 0.2, 0.5)
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False)
    history.plot()
