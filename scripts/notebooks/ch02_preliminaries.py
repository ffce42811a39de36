# %% [markdown]
# # Chapter 2: Preliminaries
#
# Source: notes, 2.2 Data Preprocessing, 2.3 Linear Algebra, 2.5 Automatic Differentiation.
#
# Three warm-up exercises: cleaning a table with pandas, the $\ell_p$ norm, and a
# gradient computed by TensorFlow's automatic differentiation.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `preprocess` above to see this", instead of running, so *Run All* always reaches
# the end.

# %%
import io

import grader

grader.quiet_tensorflow()  # load TensorFlow without its C++ start-up messages

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import kerasdl

%matplotlib inline

kerasdl.set_seed(0)
print(kerasdl.describe_device())

# %% [markdown]
# ## 2.2 Data preprocessing
#
# The notes read a small CSV of houses with missing values (`NA`). Before a table can
# become a tensor, every column must be numeric and complete:
#
# * a **numeric** column's missing entries are replaced by that column's mean
#   (*imputation*);
# * a **categorical** column becomes one indicator column per category, plus one for
#   "missing" (`pandas.get_dummies(..., dummy_na=True)`, whose column names are
#   `<column>_<category>` and `<column>_nan`).

# %%
data_file = io.StringIO("""NumRooms,RoofType,Price
NA,NA,127500
2,NA,106000
4,Slate,178100
NA,NA,140000
""")
data = pd.read_csv(data_file)
data

# %% [markdown]
# **Exercise (`preprocess`).** Return a new DataFrame (leave the input unchanged) that is
# all numeric and has no missing value, following the two rules above. Column order is
# not graded.

# %% solution preprocess
def preprocess(df):
    """Mean-impute numeric columns and one-hot encode the others (NaN gets a column)."""
    ### BEGIN SOLUTION
    df = df.copy()
    numeric = df.select_dtypes(include="number").columns
    df[numeric] = df[numeric].fillna(df[numeric].mean())
    df = pd.get_dummies(df, dummy_na=True)
    return df.astype("float64")
    ### END SOLUTION

# %% test preprocess

# %%
if grader.done(preprocess):
    clean = preprocess(data)
    X = tf.constant(clean.drop(columns="Price").to_numpy(dtype="float32"))
    y = tf.constant(clean["Price"].to_numpy(dtype="float32"))
    display(clean)
    print(X, y, sep="\n")

# %% [markdown]
# ## 2.3 Norms
#
# The $\ell_p$ norm of a vector $\mathbf{x} \in \mathbb{R}^n$ for $p \ge 1$ is
#
# $$\|\mathbf{x}\|_p = \Big(\sum_{i=1}^n |x_i|^p\Big)^{1/p}.$$
#
# $p = 2$ is the Euclidean norm (`tf.norm`), $p = 1$ the sum of absolute values.
#
# **Exercise (`lp_norm`).** Return the scalar $\|\mathbf{x}\|_p$ of a 1-D tensor.

# %% solution lp_norm
def lp_norm(x, p):
    """The l_p norm (sum |x_i|^p)^(1/p) of a 1-D tensor, p >= 1."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    p = tf.cast(p, x.dtype)
    return tf.reduce_sum(tf.abs(x) ** p) ** (1.0 / p)
    ### END SOLUTION

# %% test lp_norm

# %%
u = tf.constant([3.0, -4.0])
if grader.done(lp_norm):
    print(f"l2: {float(lp_norm(u, 2)):.4f} (tf.norm: {float(tf.norm(u)):.4f})")
    print(f"l1: {float(lp_norm(u, 1)):.4f}")

# %% [markdown]
# ## 2.5 Automatic differentiation
#
# `tf.GradientTape` records the operations on watched tensors (every `tf.Variable` is
# watched; a plain tensor needs `tape.watch`) and `tape.gradient` runs them backwards.
# The notes' example: $y = 2\,\mathbf{x}^\top\mathbf{x}$ has gradient $4\mathbf{x}$.

# %%
x = tf.range(4, dtype=tf.float32)
x = tf.Variable(x)
with tf.GradientTape() as t:
    y = 2 * tf.tensordot(x, x, axes=1)
x_grad = t.gradient(y, x)
x_grad, x_grad == 4 * x

# %% [markdown]
# For one example $(\mathbf{x}, y)$ and weights $\mathbf{w}$, the squared error
# $z = (\langle \mathbf{x}, \mathbf{w} \rangle - y)^2$ has gradient
#
# $$\nabla_{\mathbf{w}} z = 2\,(\langle \mathbf{x}, \mathbf{w} \rangle - y)\,\mathbf{x}.$$
#
# **Exercise (`squared_error_grad`).** Compute $\nabla_{\mathbf{w}} z$ with
# `tf.GradientTape` (not with the closed form); the result has the shape of `w`.

# %% solution squared_error_grad
def squared_error_grad(x, w, y):
    """Gradient of (<x, w> - y)^2 with respect to w, by automatic differentiation."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    w = tf.convert_to_tensor(w, dtype=x.dtype)
    y = tf.cast(y, x.dtype)
    with tf.GradientTape() as tape:
        tape.watch(w)
        z = (tf.reduce_sum(tf.reshape(x, [-1]) * tf.reshape(w, [-1])) - y) ** 2
    return tape.gradient(z, w)
    ### END SOLUTION

# %% test squared_error_grad

# %%
x = tf.constant([1.0, 2.0, 3.0])
w = tf.constant([0.5, -1.0, 2.0])
y = 1.0
closed_form = 2 * (tf.tensordot(x, w, axes=1) - y) * x
if grader.done(squared_error_grad):
    print("GradientTape:", squared_error_grad(x, w, y))
    print("closed form: ", closed_form)
