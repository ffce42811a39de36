# %% [markdown]
# # Chapter 8: Adversarial Examples
#
# Source: notes, 8.7 Adversarial Examples (FGSM).
#
# A trained classifier can be fooled by a perturbation too small to notice. The fast
# gradient sign method (FGSM) of Goodfellow et al. (2015) builds one in a single
# gradient step. You write the attack and measure how accuracy falls as the
# perturbation grows.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `fgsm` above to see this", instead of running, so *Run All* always reaches
# the end.

# %%
import os

import grader

grader.quiet_tensorflow()  # load TensorFlow without its C++ start-up messages

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

import kerasdl

%matplotlib inline

# Under nbgrader (autograde/validate) the training demonstrations use a small budget.
GRADING = "NBGRADER_EXECUTION" in os.environ
kerasdl.set_seed(0)
print(kerasdl.describe_device())

# %% [markdown]
# ## The fast gradient sign method
#
# For a model with loss $L(\mathbf{x}, y)$ (here the cross-entropy of the model's logits
# with the **true** label), FGSM moves every pixel by $\epsilon$ in the direction that
# increases the loss, then clips back to the valid pixel range $[0, 1]$:
#
# $$\mathbf{x}_\mathrm{adv} = \mathrm{clip}_{[0, 1]}\Big(\mathbf{x} + \epsilon\,
#   \mathrm{sign}\big(\nabla_{\mathbf{x}} L(\mathbf{x}, y)\big)\Big).$$
#
# $\epsilon$ is in pixel units of images scaled to $[0, 1]$: $\epsilon = 0.1$ changes
# each pixel by at most 10% of the grey range. It is the largest change allowed by
# the max-norm constraint $\|\mathbf{x}_\mathrm{adv} - \mathbf{x}\|_\infty \le \epsilon$.
#
# **Exercise (`fgsm`).** `X` is a batch of NHWC images in $[0, 1]$, `y` the integer labels;
# the model outputs logits. Compute the gradient with `tf.GradientTape` (watch `X`),
# call the model with `training=False` (dropout off, batch normalization on its moving
# statistics), and use the sparse categorical cross-entropy `from_logits=True`.

# %% solution fgsm
def fgsm(model, X, y, epsilon):
    """FGSM adversarial images clip(X + epsilon * sign(grad_X L), 0, 1)."""
    ### BEGIN SOLUTION
    X = tf.convert_to_tensor(X)
    with tf.GradientTape() as tape:
        tape.watch(X)
        logits = model(X, training=False)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    grad = tape.gradient(loss, X)
    return tf.clip_by_value(X + epsilon * tf.sign(grad), 0.0, 1.0)
    ### END SOLUTION

# %% test fgsm

# %% [markdown]
# A check by hand: a logistic model with logit $z = \mathbf{w}^\top\mathbf{x}$,
# $\mathbf{w} = (1, -2)$, written as two-class logits $(0, z)$; for $\mathbf{x} = (0.5, 0.5)$
# and $y = 1$, $\nabla_\mathbf{x} L = (\sigma(z) - 1)\,\mathbf{w} = (-0.62246, 1.24492)$,
# so $\epsilon = 0.1$ gives $(0.4, 0.6)$.

# %%
w = tf.constant([[1.0], [-2.0]])
toy = keras.Sequential([
    keras.Input((2,)),
    keras.layers.Lambda(lambda x: tf.concat([tf.zeros_like(x[:, :1]), x @ w], axis=1)),
])
if grader.done(fgsm):
    print(fgsm(toy, tf.constant([[0.5, 0.5]]), tf.constant([1]), 0.1))

# %% [markdown]
# **Exercise (`adversarial_accuracy`).** The fraction of all examples of `dataset`
# (an iterable of `(X, y)` batches) that the model still classifies correctly after your
# `fgsm` with this `epsilon`. Count examples, not batches (the last batch may be
# smaller).

# %% solution adversarial_accuracy
def adversarial_accuracy(model, dataset, epsilon):
    """Fraction of examples classified correctly after the FGSM attack."""
    ### BEGIN SOLUTION
    num_correct, num_examples = 0, 0
    for X, y in dataset:
        X_adv = fgsm(model, X, y, epsilon)
        y_hat = tf.argmax(model(X_adv, training=False), axis=1)
        num_correct += int(tf.reduce_sum(tf.cast(y_hat == tf.cast(y, y_hat.dtype), tf.int32)))
        num_examples += int(tf.size(y))
    return num_correct / num_examples
    ### END SOLUTION

# %% test adversarial_accuracy

# %% [markdown]
# ## Attacking a Fashion-MNIST classifier
#
# A small CNN (two ReLU convolutions with max pooling, then a dense layer) trained with
# Adam (learning rate 0.001, batch size 128, 5 epochs); under autograding one epoch
# on a few hundred images. Then the accuracy on test images for growing $\epsilon$, and
# a few images before and after the attack.

# %%
batch_size, lr = 128, 1e-3
num_epochs, num_train, num_test = (1, 512, 256) if GRADING else (5, None, 2000)
train_iter, test_iter = kerasdl.load_fashion_mnist(
    batch_size, num_train=num_train, num_test=num_test)
net = keras.Sequential([
    keras.Input((28, 28, 1)),
    keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10),
])
history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                        keras.optimizers.Adam(learning_rate=lr), verbose=False)
history.to_frame()

# %%
epsilons = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
if grader.done(adversarial_accuracy, fgsm):  # your adversarial_accuracy calls your fgsm
    curve = pd.DataFrame({
        "epsilon": epsilons,
        "accuracy": [adversarial_accuracy(net, test_iter, epsilon) for epsilon in epsilons],
    })
    kerasdl.plot_adversarial_curve(curve)

# %%
X, y = next(iter(test_iter))
kerasdl.plot_adversarial_examples(net, X[:8], y[:8], epsilon=0.1,
                                  labels=kerasdl.FASHION_MNIST_LABELS)
