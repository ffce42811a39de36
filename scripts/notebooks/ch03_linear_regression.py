# %% [markdown]
# # Chapter 3: Linear Regression
#
# Source: notes, 3.1 Linear Regression, 3.2 Linear Regression Implementation from Scratch.
#
# You build linear regression from scratch: synthetic data, a minibatch reader, the
# model, the squared loss, minibatch SGD, and the closed-form solution to compare with.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `synthetic_data` above to see this", instead of running, so *Run All* always reaches
# the end.

# %%
import grader

grader.quiet_tensorflow()  # load TensorFlow without its C++ start-up messages

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import kerasdl

%matplotlib inline

kerasdl.set_seed(0)
print(kerasdl.describe_device())

# %% [markdown]
# ## 3.2.1 Generating the dataset
#
# Features $\mathbf{X} \in \mathbb{R}^{n \times d}$ drawn from $\mathcal{N}(0, 1)$ and
# labels from a known linear model with Gaussian noise:
#
# $$\mathbf{y} = \mathbf{X}\mathbf{w} + b + \boldsymbol{\epsilon},
# \qquad \epsilon_i \sim \mathcal{N}(0, 0.01^2).$$
#
# **Exercise (`synthetic_data`).** Return `X` of shape `(num_examples, len(w))` and `y`
# of shape `(num_examples, 1)`, both float32.

# %% solution synthetic_data
def synthetic_data(w, b, num_examples):
    """Generate y = Xw + b + noise, X ~ N(0, 1), noise ~ N(0, 0.01^2)."""
    ### BEGIN SOLUTION
    w = tf.reshape(tf.cast(w, tf.float32), (-1, 1))  # (d,) -> (d, 1)
    X = tf.random.normal((num_examples, w.shape[0]))
    y = tf.matmul(X, w) + tf.cast(b, tf.float32)
    y += tf.random.normal(y.shape, stddev=0.01)
    return X, y
    ### END SOLUTION

# %% test synthetic_data

# %%
true_w = tf.constant([2.0, -3.4])
true_b = 4.2
if grader.done(synthetic_data):
    features, labels = synthetic_data(true_w, true_b, 1000)
    fig, ax = plt.subplots(figsize=(3.5, 2.5))
    ax.scatter(features[:, 1].numpy(), labels.numpy(), s=1)
    ax.set_xlabel("second feature")
    ax.set_ylabel("label")

# %% [markdown]
# ## 3.2.2 Reading the dataset
#
# Training visits the data in minibatches. A pass (*epoch*) shuffles the example
# indices and yields consecutive slices of them, so each example is used exactly once
# per pass; the last minibatch is smaller when `batch_size` does not divide the
# number of examples.
#
# **Exercise (`data_iter`).** A generator of `(X_batch, y_batch)` pairs.

# %% solution data_iter
def data_iter(batch_size, features, labels):
    """Yield shuffled minibatches (X, y) covering every example once."""
    ### BEGIN SOLUTION
    num_examples = len(features)
    indices = np.random.permutation(num_examples)
    for i in range(0, num_examples, batch_size):
        j = tf.constant(indices[i:i + batch_size])
        yield tf.gather(features, j), tf.gather(labels, j)
    ### END SOLUTION

# %% test data_iter

# %%
batch_size = 10
if grader.done(data_iter, synthetic_data):  # features, labels: your synthetic_data's
    for X, y in data_iter(batch_size, features, labels):
        print(X.shape, y.shape)
        break

# %% [markdown]
# ## 3.2.3 - 3.2.6 Model, loss and optimization
#
# The model is $\hat{\mathbf{y}} = \mathbf{X}\mathbf{w} + b$; the loss of one example
# is the squared error **with a factor 1/2** (so its derivative has no 2):
#
# $$l^{(i)}(\mathbf{w}, b) = \tfrac{1}{2}\big(\hat{y}^{(i)} - y^{(i)}\big)^2 .$$
#
# Keras' `MeanSquaredError` has no 1/2: it is twice this loss, averaged.
#
# **Exercises (`linreg`, `squared_loss`).** `linreg(X, w, b)` returns `X @ w + b`;
# `squared_loss(y_hat, y)` returns the elementwise loss above, with `y` reshaped to the
# shape of `y_hat`.

# %% solution linreg
def linreg(X, w, b):
    """The linear regression model X w + b."""
    ### BEGIN SOLUTION
    return tf.matmul(X, w) + b
    ### END SOLUTION

# %% test linreg

# %% solution squared_loss
def squared_loss(y_hat, y):
    """Elementwise squared loss (y_hat - y)^2 / 2."""
    ### BEGIN SOLUTION
    return (y_hat - tf.reshape(y, tf.shape(y_hat))) ** 2 / 2
    ### END SOLUTION

# %% test squared_loss

# %% [markdown]
# Minibatch stochastic gradient descent updates each parameter with the gradient of
# the **summed** minibatch loss, divided by the batch size $|\mathcal{B}|$:
#
# $$\theta \leftarrow \theta - \frac{\eta}{|\mathcal{B}|}\,\nabla_\theta
# \sum_{i \in \mathcal{B}} l^{(i)}(\theta).$$
#
# **Exercise (`sgd`).** Update the `tf.Variable`s of `params` in place (`assign_sub`)
# with the matching `grads`; return nothing.

# %% solution sgd
def sgd(params, grads, lr, batch_size):
    """Minibatch SGD: param -= lr * grad / batch_size, in place."""
    ### BEGIN SOLUTION
    for param, grad in zip(params, grads):
        param.assign_sub(lr * grad / batch_size)
    ### END SOLUTION

# %% test sgd

# %% [markdown]
# ## 3.1.1 The analytic solution
#
# Appending a column of ones to $\mathbf{X}$ absorbs the bias; the least-squares
# solution then solves the normal equations
#
# $$\mathbf{w}^* = (\mathbf{X}^\top\mathbf{X})^{-1}\mathbf{X}^\top\mathbf{y}.$$
#
# **Exercise (`normal_equation`).** Return `(w, b)` with `w` of shape `(d, 1)` and `b` a
# scalar. Solve the linear system rather than inverting the matrix.

# %% solution normal_equation
def normal_equation(X, y):
    """Closed-form least squares (X^T X)^-1 X^T y with a bias column."""
    ### BEGIN SOLUTION
    X = tf.cast(X, tf.float64)
    y = tf.reshape(tf.cast(y, tf.float64), (-1, 1))  # (n,) or (n, 1) -> (n, 1)
    X1 = tf.concat([X, tf.ones((X.shape[0], 1), tf.float64)], axis=1)  # (n, d+1)
    theta = tf.linalg.solve(tf.transpose(X1) @ X1, tf.transpose(X1) @ y)  # (d+1, 1)
    return theta[:-1], theta[-1, 0]
    ### END SOLUTION

# %% test normal_equation

# %%
if grader.done(normal_equation, synthetic_data):
    w_star, b_star = normal_equation(features, labels)
    print(f"closed form: w = {w_star.numpy().ravel()}, b = {float(b_star):.4f}")

# %% [markdown]
# ## 3.2.7 Training
#
# Put the pieces together: initialise $\mathbf{w} \sim \mathcal{N}(0, 0.01^2)$ and
# $b = 0$, then for each epoch and each minibatch compute the loss under a
# `tf.GradientTape`, take the gradients and apply `sgd`.
#
# **Exercise (`train_linreg`).** Return the trained `(w, b)` as `tf.Variable`s (or
# tensors); use your functions above.

# %% solution train_linreg
def train_linreg(features, labels, lr, num_epochs, batch_size):
    """Train linear regression by minibatch SGD; return (w, b)."""
    ### BEGIN SOLUTION
    w = tf.Variable(tf.random.normal((features.shape[1], 1), stddev=0.01))
    b = tf.Variable(tf.zeros(1))
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            with tf.GradientTape() as tape:
                l = squared_loss(linreg(X, w, b), y)
            dw, db = tape.gradient(l, [w, b])
            sgd([w, b], [dw, db], lr, batch_size)
    return w, b
    ### END SOLUTION

# %% test train_linreg

# %% [markdown]
# The notes' run: learning rate 0.03, 3 epochs, batch size 10. The estimates come close
# to the true parameters and to the closed-form solution.

# %%
lr, num_epochs, batch_size = 0.03, 3, 10
# train_linreg calls your data_iter, linreg, squared_loss and sgd.
if grader.done(train_linreg, synthetic_data, data_iter, linreg, squared_loss, sgd):
    w, b = train_linreg(features, labels, lr, num_epochs, batch_size)
    print(f"error in estimating w: {(true_w - tf.reshape(w, true_w.shape)).numpy()}")
    print(f"error in estimating b: {float(true_b - b[0]):.5f}")
    mean_loss = tf.reduce_mean(squared_loss(linreg(features, w, b), labels))
    print(f"training loss: {float(mean_loss):.6f}")
