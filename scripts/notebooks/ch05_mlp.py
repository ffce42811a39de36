# %% [markdown]
# # Chapter 5: Multilayer Perceptrons
#
# Source: notes, 5.1 Multilayer Perceptrons, 5.2 Implementation of Multilayer Perceptrons.
#
# You write the three classic activation functions and their derivatives, a one-hidden-layer
# MLP from scratch, and the same MLP with Keras layers.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `relu` above to see this", instead of running, so *Run All* always reaches
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
# ## 5.1.2 Activation functions
#
# Without a nonlinearity between them, stacked linear layers collapse into one linear
# layer. The notes' three activations, applied elementwise:
#
# $$\mathrm{ReLU}(x) = \max(x, 0), \qquad
#   \mathrm{sigmoid}(x) = \frac{1}{1 + \exp(-x)}, \qquad
#   \tanh(x) = \frac{1 - \exp(-2x)}{1 + \exp(-2x)} .$$
#
# Mind the overflow: for $x = -1000$, $\exp(-x)$ is `inf` in float32. Take `exp` of a
# non-positive number only: $e = \exp(-x)$ where $x \ge 0$ and $e = \exp(x)$ where $x < 0$;
# then $\mathrm{sigmoid}(x) = 1 / (1 + e)$ for $x \ge 0$ and $e / (1 + e)$ for $x < 0$.
# Build $e$ from $x$ itself (`tf.where(x >= 0, -x, x)`), not from $|x|$: automatic
# differentiation takes the derivative of $|x|$ at $0$ to be $0$, so a sigmoid built on
# $\exp(-|x|)$ has the right values but a `GradientTape` derivative of $0$ at $x = 0$
# instead of $1/4$. Then use $\tanh(x) = 2\,\mathrm{sigmoid}(2x) - 1$.
#
# ReLU has a kink at $0$, where the course takes the derivative to be $0$. Autodiff
# follows the formula you write: `tf.maximum(x, 0)` passes the gradient to `x` at the
# tie ($1$ at $0$), `tf.where(x > 0, x, 0)` does not ($0$ at $0$, as `relu_grad` below).
#
# **Exercises (`relu`, `sigmoid`, `tanh`).** Elementwise on a tensor; finite for
# $|x| \le 1000$.

# %% solution relu
def relu(x):
    """max(x, 0), elementwise."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    return tf.where(x > 0, x, tf.zeros_like(x))
    ### END SOLUTION

# %% test relu

# %% solution sigmoid
def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise, without overflow."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    positive = x >= 0
    e = tf.exp(tf.where(positive, -x, x))  # exp of a non-positive number: in (0, 1]
    return tf.where(positive, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION

# %% test sigmoid

# %% solution tanh
def tanh(x):
    """(1 - exp(-2x)) / (1 + exp(-2x)), elementwise, without overflow."""
    ### BEGIN SOLUTION
    return 2 * sigmoid(2 * tf.convert_to_tensor(x)) - 1
    ### END SOLUTION

# %% test tanh

# %% [markdown]
# Their derivatives in closed form (ReLU's derivative at 0 is taken to be 0):
#
# $$\mathrm{ReLU}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}, \qquad
#   \mathrm{sigmoid}'(x) = \mathrm{sigmoid}(x)\,(1 - \mathrm{sigmoid}(x)), \qquad
#   \tanh'(x) = 1 - \tanh^2(x).$$
#
# **Exercises (`relu_grad`, `sigmoid_grad`, `tanh_grad`).** Use the closed forms, not
# `tf.GradientTape` (the plot below compares the two).

# %% solution relu_grad
def relu_grad(x):
    """Derivative of ReLU: 1 where x > 0, else 0."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    return tf.cast(x > 0, x.dtype)
    ### END SOLUTION

# %% test relu_grad

# %% solution sigmoid_grad
def sigmoid_grad(x):
    """Derivative of the sigmoid: s (1 - s)."""
    ### BEGIN SOLUTION
    s = sigmoid(x)
    return s * (1 - s)
    ### END SOLUTION

# %% test sigmoid_grad

# %% solution tanh_grad
def tanh_grad(x):
    """Derivative of tanh: 1 - tanh(x)^2."""
    ### BEGIN SOLUTION
    return 1 - tanh(x) ** 2
    ### END SOLUTION

# %% test tanh_grad

# %% [markdown]
# Each activation with its closed-form derivative and the derivative `tf.GradientTape`
# computes from your function: the two derivative curves should lie on each other,
# also at $x = 0$ (the grid below contains $0$ exactly).

# %%
x = tf.Variable(tf.range(-80, 81, dtype=tf.float32) / 10)  # -8.0, -7.9, ..., 8.0
if grader.done(relu, sigmoid, tanh, relu_grad, sigmoid_grad, tanh_grad):
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.6))
    for ax, f, f_grad in zip(axes, (relu, sigmoid, tanh), (relu_grad, sigmoid_grad, tanh_grad)):
        with tf.GradientTape() as tape:
            y = f(x)
        autodiff = tape.gradient(y, x)
        ax.plot(x.numpy(), y.numpy(), label=f.__name__)
        ax.plot(x.numpy(), f_grad(x).numpy(), label="closed-form derivative")
        ax.plot(x.numpy(), autodiff.numpy(), ":", label="GradientTape")
        ax.legend(fontsize=7)
        ax.grid(True)

# %% [markdown]
# ## 5.2.1 An MLP from scratch
#
# One hidden layer with ReLU, for images flattened to vectors of $d = 784$ pixels:
#
# $$\mathbf{H} = \mathrm{ReLU}(\mathbf{X}\mathbf{W}^{(1)} + \mathbf{b}^{(1)}), \qquad
#   \mathbf{O} = \mathbf{H}\mathbf{W}^{(2)} + \mathbf{b}^{(2)} .$$
#
# **Exercise (`mlp`).** `params = [W1, b1, W2, b2]`; reshape `X` to
# `(-1, W1.shape[0])` and return the logits `O`.

# %% solution mlp
def mlp(X, params):
    """One-hidden-layer MLP from scratch; returns logits."""
    ### BEGIN SOLUTION
    W1, b1, W2, b2 = params
    X = tf.reshape(X, (-1, W1.shape[0]))  # (N, 28, 28, 1) -> (N, 784)
    H = relu(tf.matmul(X, W1) + b1)
    return tf.matmul(H, W2) + b2
    ### END SOLUTION

# %% test mlp

# %% [markdown]
# ## 5.2.2 The concise implementation
#
# **Exercise (`mlp_model`).** A `keras.Sequential` of `Flatten`,
# `Dense(num_hiddens, relu)` and `Dense(num_outputs)` (logits).

# %% solution mlp_model
def mlp_model(num_hiddens, num_outputs):
    """Keras MLP: Flatten -> Dense(num_hiddens, relu) -> Dense(num_outputs)."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.layers.Flatten(),
        keras.layers.Dense(num_hiddens, activation="relu"),
        keras.layers.Dense(num_outputs),
    ])
    ### END SOLUTION

# %% test mlp_model

# %% [markdown]
# ## Training the MLP on Fashion-MNIST
#
# The notes: 256 hidden units, SGD with learning rate 0.1, batch size 256, 10 epochs.
# The scratch parameters are trained with your `mlp` inside a small Keras model, the
# concise one with `mlp_model`. Under autograding the budget is cut to one epoch on a
# few hundred images.

# %%
num_inputs, num_outputs, num_hiddens = 784, 10, 256
batch_size, lr = 256, 0.1
num_epochs, num_train, num_test = (1, 512, 256) if GRADING else (10, None, None)
train_iter, test_iter = kerasdl.load_fashion_mnist(
    batch_size, num_train=num_train, num_test=num_test)


class ScratchMLP(keras.Model):
    """Your `mlp` with its parameters held by a Keras model, so `kerasdl.train` can fit it."""

    def __init__(self, num_inputs, num_hiddens, num_outputs, sigma=0.01):
        super().__init__()
        normal = keras.initializers.RandomNormal(stddev=sigma, seed=0)
        self.W1 = self.add_weight(shape=(num_inputs, num_hiddens), initializer=normal)
        self.b1 = self.add_weight(shape=(num_hiddens,), initializer="zeros")
        self.W2 = self.add_weight(shape=(num_hiddens, num_outputs), initializer=normal)
        self.b2 = self.add_weight(shape=(num_outputs,), initializer="zeros")

    def call(self, X, training=None):
        return mlp(X, [self.W1, self.b1, self.W2, self.b2])


if grader.done(mlp, relu):  # your mlp calls your relu
    net = ScratchMLP(num_inputs, num_hiddens, num_outputs)
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False)
    history.plot()

# %%
if grader.done(mlp_model):
    net = mlp_model(num_hiddens, num_outputs)
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False)
    display(history.to_frame())
