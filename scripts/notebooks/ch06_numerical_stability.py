# %% [markdown]
# # Chapter 6: Numerical Stability and Initialization
#
# Source: notes, 5.4 Numerical Stability and Initialization.
#
# You write Xavier (Glorot) initialization, as functions and as a Keras initializer,
# and a rescaled sigmoid that is centred like $\tanh$.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `xavier_normal` above to see this", instead of running, so *Run All* always reaches
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
# ## 5.4.1 Vanishing and exploding gradients
#
# The sigmoid's gradient is at most $1/4$ and vanishes for large $|x|$; products of
# many random matrices explode. Both make deep networks hard to train.

# %%
x = tf.Variable(tf.linspace(-8.0, 8.0, 161))
with tf.GradientTape() as tape:
    y = tf.nn.sigmoid(x)
fig, ax = plt.subplots(figsize=(4, 2.6))
ax.plot(x.numpy(), y.numpy(), label="sigmoid")
ax.plot(x.numpy(), tape.gradient(y, x).numpy(), label="gradient")
ax.legend()
ax.grid(True)

# %%
M = tf.random.normal((4, 4), seed=0)
for i in range(100):
    M = tf.matmul(M, tf.random.normal((4, 4), seed=i + 1))
print(f"after multiplying 100 random matrices: max |entry| = {float(tf.reduce_max(tf.abs(M))):.3e}")

# %% [markdown]
# ## 5.4.2 Xavier initialization
#
# For a layer with $n_\mathrm{in}$ inputs and $n_\mathrm{out}$ outputs, keeping the
# variance of activations and of gradients both steady asks for
# $\sigma^2 = 2 / (n_\mathrm{in} + n_\mathrm{out})$:
#
# * Xavier normal: $w \sim \mathcal{N}\big(0, \tfrac{2}{n_\mathrm{in} + n_\mathrm{out}}\big)$;
# * Xavier uniform: $w \sim U(-a, a)$ with $a = \sqrt{\tfrac{6}{n_\mathrm{in} + n_\mathrm{out}}}$
#   (same variance, since $\mathrm{Var}\, U(-a, a) = a^2 / 3$).
#
# Fans follow Keras: a dense kernel `(n_in, n_out)`; a conv kernel
# `(k_h, k_w, c_in, c_out)` has $n_\mathrm{in} = k_h k_w c_\mathrm{in}$ and
# $n_\mathrm{out} = k_h k_w c_\mathrm{out}$; a 1-D shape `(n,)` has both fans $n$.
#
# Keras' `GlorotNormal` uses a *truncated* normal; ours is a plain normal.
#
# **Exercises (`xavier_normal`, `xavier_uniform`).** Return a float32 tensor of `shape`;
# with an int `seed` the draw is reproducible.

# %% solution xavier_normal
def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, Keras-style."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2]))  # 1 for a dense kernel
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def xavier_normal(shape, seed=None):
    """Normal weights with std sqrt(2 / (fan_in + fan_out))."""
    ### BEGIN SOLUTION
    shape = tuple(int(d) for d in shape)
    fan_in, fan_out = compute_fans(shape)
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return keras.random.normal(shape, stddev=std, seed=seed)
    ### END SOLUTION

# %% test xavier_normal

# %% solution xavier_uniform
def xavier_uniform(shape, seed=None):
    """Uniform weights on (-a, a) with a = sqrt(6 / (fan_in + fan_out))."""
    ### BEGIN SOLUTION
    shape = tuple(int(d) for d in shape)
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return keras.random.uniform(shape, minval=-limit, maxval=limit, seed=seed)
    ### END SOLUTION

# %% test xavier_uniform

# %%
if grader.done(xavier_normal):
    W = xavier_normal((784, 256), seed=0)
    print(f"normal: std {float(tf.math.reduce_std(W)):.5f} (expected 0.04385)")
if grader.done(xavier_uniform):
    U = xavier_uniform((784, 256), seed=0)
    print(f"uniform: max |w| {float(tf.reduce_max(tf.abs(U))):.5f} (limit 0.07596), "
          f"std {float(tf.math.reduce_std(U)):.5f}")

# %% [markdown]
# **Exercise (`XavierUniform`).** The same as a `keras.initializers.Initializer` that
# layers can use (`Dense(..., kernel_initializer=XavierUniform(seed=0))`): implement
# `__call__(shape, dtype=None)` and `get_config()` (so `XavierUniform(**config)` rebuilds
# it). Successive calls should give different draws.

# %% solution XavierUniform
class XavierUniform(keras.initializers.Initializer):
    """Xavier (Glorot) uniform initializer, U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""

    def __init__(self, seed=None):
        ### BEGIN SOLUTION
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed)
        ### END SOLUTION

    def __call__(self, shape, dtype=None):
        ### BEGIN SOLUTION
        values = xavier_uniform(shape, seed=self._generator)
        return tf.cast(values, dtype or keras.config.floatx())
        ### END SOLUTION

    def get_config(self):
        ### BEGIN SOLUTION
        return {"seed": self.seed}
        ### END SOLUTION

# %% test XavierUniform

# %% [markdown]
# A deep stack of tanh layers keeps the scale of its activations with Xavier
# initialization; with $\mathcal{N}(0, 1)$ weights they saturate at $\pm 1$.

# %%
X = tf.random.normal((256, 100), seed=0)
# XavierUniform may call your xavier_uniform.
if grader.done(XavierUniform, xavier_uniform):
    for name, initializer in (("Xavier", XavierUniform(seed=0)),
                              ("N(0, 1)", keras.initializers.RandomNormal(stddev=1.0, seed=0))):
        H = X
        for _ in range(10):
            H = keras.layers.Dense(100, activation="tanh", kernel_initializer=initializer)(H)
        saturated = float(tf.reduce_mean(tf.cast(tf.abs(H) > 0.99, tf.float32)))
        print(f"{name:8s}: std of layer-10 activations {float(tf.math.reduce_std(H)):.3f}, "
              f"fraction saturated (|h| > 0.99) {saturated:.3f}")

# %% [markdown]
# ## A sigmoid centred at zero
#
# The notes' exercise: rescale the sigmoid to the range of $\tanh$,
#
# $$\tilde{\sigma}(x) = 4\,\mathrm{sigmoid}(x) - 2 ,$$
#
# which is $0$ at $x = 0$ with slope $1$ there, like $\tanh$ (range $(-2, 2)$).
#
# **Exercise (`scaled_sigmoid`).** Elementwise; finite for large $|x|$.

# %% solution scaled_sigmoid
def scaled_sigmoid(x):
    """4 * sigmoid(x) - 2."""
    ### BEGIN SOLUTION
    return 4.0 * tf.math.sigmoid(tf.convert_to_tensor(x)) - 2.0
    ### END SOLUTION

# %% test scaled_sigmoid

# %%
x = tf.linspace(-6.0, 6.0, 121)
if grader.done(scaled_sigmoid):
    fig, ax = plt.subplots(figsize=(4, 2.6))
    ax.plot(x.numpy(), scaled_sigmoid(x).numpy(), label="4 sigmoid(x) - 2")
    ax.plot(x.numpy(), tf.tanh(x).numpy(), "--", label="tanh(x)")
    ax.legend()
    ax.grid(True)
