# %% [markdown]
# # Chapter 4: Softmax Regression
#
# Source: notes, 4.1 Softmax Regression, 4.2 The Image Classification Dataset,
# 4.4 Softmax Regression Implementation from Scratch, 4.5 Concise Implementation of
# Softmax Regression.
#
# You write softmax and the cross-entropy loss from scratch, make them numerically
# stable, measure accuracy and write one training step with `tf.GradientTape`.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `softmax` above to see this", instead of running, so *Run All* always reaches
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
# ## 4.2 The Fashion-MNIST dataset
#
# 70,000 grey $28 \times 28$ images of clothing in 10 classes. `kerasdl.load_fashion_mnist`
# returns `tf.data` pipelines of NHWC float32 images in $[0, 1]$ and integer labels.

# %%
batch_size = 256
train_iter, test_iter = kerasdl.load_fashion_mnist(batch_size, num_train=1024, num_test=256)
X, y = next(iter(train_iter))
kerasdl.show_images(X[:12], 2, 6, titles=kerasdl.get_fashion_mnist_labels(y[:12]))

# %% [markdown]
# ## 4.4.1 The softmax
#
# Softmax turns a row of logits $\mathbf{o}$ into probabilities:
#
# $$\mathrm{softmax}(\mathbf{o})_j = \frac{\exp(o_j)}{\sum_k \exp(o_k)}
#   = \frac{\exp(o_j - \bar{o})}{\sum_k \exp(o_k - \bar{o})},
#   \qquad \bar{o} = \max_k o_k .$$
#
# Subtracting the row maximum changes nothing mathematically but keeps `exp` from
# overflowing: `exp(1000)` is `inf` in float32.
#
# **Exercise (`softmax`).** Row-wise softmax of an `(n, q)` tensor; it must stay finite
# for logits up to $\pm 1000$.

# %% solution softmax
def softmax(X):
    """Row-wise softmax of X (n, q), stable for large logits."""
    ### BEGIN SOLUTION
    X_exp = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
    partition = tf.reduce_sum(X_exp, axis=1, keepdims=True)
    return X_exp / partition
    ### END SOLUTION

# %% test softmax

# %%
if grader.done(softmax):
    print(softmax(tf.constant([[1000.0, 1001.0, 1002.0]])))

# %% [markdown]
# ## 4.4.3 The cross-entropy loss
#
# For predicted probabilities $\hat{\mathbf{y}}$ and the true class $y$, the loss is
# $-\log \hat{y}_{y}$: minus the log of the probability given to the true class.
#
# **Exercise (`cross_entropy`).** `y_hat` is `(n, q)` probabilities, `y` the `(n,)`
# integer labels; return the `(n,)` losses.

# %% solution cross_entropy
def cross_entropy(y_hat, y):
    """Per-example -log y_hat[i, y_i]."""
    ### BEGIN SOLUTION
    y_hat = tf.convert_to_tensor(y_hat)
    mask = tf.one_hot(tf.cast(y, tf.int32), depth=y_hat.shape[-1], dtype=y_hat.dtype)
    return -tf.math.log(tf.reduce_sum(y_hat * mask, axis=1))
    ### END SOLUTION

# %% test cross_entropy

# %%
y_hat = tf.constant([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
y = tf.constant([0, 2])
if grader.done(cross_entropy):
    print(cross_entropy(y_hat, y))

# %% [markdown]
# ## Softmax and cross-entropy from logits, stably
#
# Computing $\log(\mathrm{softmax}(\mathbf{o}))$ in two steps fails for large logits:
# a probability underflows to 0 and its log is $-\infty$. Simplify first:
#
# $$\log \mathrm{softmax}(\mathbf{o})_j = (o_j - \bar{o}) -
#   \log \sum_k \exp(o_k - \bar{o}).$$
#
# This is what `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` does, and
# why models output logits, not probabilities.
#
# **Exercises (`log_softmax`, `softmax_cross_entropy`).** `log_softmax(O)` is the row-wise
# stable log-softmax; `softmax_cross_entropy(O, y)` the `(n,)` cross-entropy computed
# from logits `O` with it.

# %% solution log_softmax
def log_softmax(O):
    """Stable row-wise log-softmax: o - max - log(sum(exp(o - max)))."""
    ### BEGIN SOLUTION
    shifted = O - tf.reduce_max(O, axis=1, keepdims=True)
    return shifted - tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=1, keepdims=True))
    ### END SOLUTION

# %% test log_softmax

# %% solution softmax_cross_entropy
def softmax_cross_entropy(O, y):
    """Per-example cross-entropy from logits O (n, q) and labels y (n,)."""
    ### BEGIN SOLUTION
    log_probs = log_softmax(O)
    mask = tf.one_hot(tf.cast(y, tf.int32), depth=log_probs.shape[-1], dtype=log_probs.dtype)
    return -tf.reduce_sum(log_probs * mask, axis=1)
    ### END SOLUTION

# %% test softmax_cross_entropy

# %%
O = tf.constant([[1000.0, 0.0], [-1000.0, 0.0]])
y = tf.constant([0, 0])
if grader.done(cross_entropy, softmax):
    print("naive:", cross_entropy(softmax(O), y).numpy())
if grader.done(softmax_cross_entropy, log_softmax):  # yours may call your log_softmax
    print("stable:", softmax_cross_entropy(O, y).numpy())

# %% [markdown]
# ## 4.4.4 Classification accuracy
#
# The prediction is the class with the largest score (`argmax` over axis 1); accuracy
# is the fraction of predictions equal to the label.
#
# **Exercise (`accuracy`).** Return the **number** of correct predictions as a float
# (not the fraction); `y_hat` is `(n, q)` scores or already `(n,)` class indices.

# %% solution accuracy
def accuracy(y_hat, y):
    """Number of correct predictions (a float)."""
    ### BEGIN SOLUTION
    y_hat = tf.convert_to_tensor(y_hat)
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = tf.argmax(y_hat, axis=1)
    cmp = tf.cast(y_hat, tf.int64) == tf.cast(y, tf.int64)
    return float(tf.reduce_sum(tf.cast(cmp, tf.float32)))
    ### END SOLUTION

# %% test accuracy

# %%
y_hat = tf.constant([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
y = tf.constant([0, 2])
if grader.done(accuracy):
    print(accuracy(y_hat, y) / len(y))

# %% [markdown]
# **Exercise (`evaluate_accuracy`).** The fraction of correctly classified examples of a
# whole dataset: sum the correct counts and the example counts over all batches (the
# last batch may be smaller, so averaging batch accuracies is wrong). Call the model in
# inference mode, `net(X, training=False)`.

# %% solution evaluate_accuracy
def evaluate_accuracy(net, data_iter):
    """Fraction of examples of `data_iter` that `net` classifies correctly."""
    ### BEGIN SOLUTION
    num_correct, num_examples = 0.0, 0
    for X, y in data_iter:
        num_correct += accuracy(net(X, training=False), y)
        num_examples += int(tf.size(y))
    return num_correct / num_examples
    ### END SOLUTION

# %% test evaluate_accuracy

# %% [markdown]
# ## 4.4.5 One training step
#
# A training step runs the model in training mode under a `tf.GradientTape`, computes
# the loss (plus the model's regularization losses `net.losses`, if any), and lets the
# optimizer apply the gradients of all `net.trainable_variables`.
#
# **Exercise (`train_step`).** `loss_fn(y, y_hat)` is a Keras-style loss (labels first);
# return the scalar loss.

# %% solution train_step
def train_step(net, loss_fn, optimizer, X, y):
    """One optimization step on the minibatch (X, y); returns the scalar loss."""
    ### BEGIN SOLUTION
    with tf.GradientTape() as tape:
        y_hat = net(X, training=True)
        loss = tf.reduce_mean(loss_fn(y, y_hat))
        if net.losses:
            loss += tf.add_n(net.losses)
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return loss
    ### END SOLUTION

# %% test train_step

# %% [markdown]
# ## 4.5 Training softmax regression
#
# The concise model: `Flatten` then one `Dense(10)` layer producing logits, trained
# with `SparseCategoricalCrossentropy(from_logits=True)` and SGD (learning rate 0.1,
# batch size 256, 10 epochs). A few steps with your `train_step` first, then the full
# loop with `kerasdl.train`. Under autograding the budget is cut to one epoch on a few
# hundred images.

# %%
batch_size, lr = 256, 0.1
num_epochs, num_train, num_test = (1, 512, 256) if GRADING else (10, None, None)
train_iter, test_iter = kerasdl.load_fashion_mnist(
    batch_size, num_train=num_train, num_test=num_test)
net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.SGD(learning_rate=lr)
if grader.done(train_step):
    for X, y in train_iter.take(2):
        print(f"loss {float(train_step(net, loss_fn, optimizer, X, y)):.4f}")
if grader.done(evaluate_accuracy, accuracy):  # yours may call your accuracy
    print(f"test accuracy: {evaluate_accuracy(net, test_iter):.3f}")

# %%
history = kerasdl.train(net, train_iter, test_iter, num_epochs, optimizer, loss_fn, verbose=False)
history.to_frame()

# %%
history.plot()
