"""The Dense layers of a multilayer perceptron, found among its variables.

A from-scratch MLP may create its variables in any order (`add_weight`
kernels first, then biases, or one Dense layer after the other) and may hold
unused extras. `dense_candidates` lists the ways its variables can be read
as `(kernel, bias)` pairs of the expected shapes; the check keeps the first
whose recomputation in float64 (`mlp_forward`) reproduces the model's output.
`drawn_values` gives the seeded weights the grader assigns first.
"""

import itertools
import math

import numpy as np

from grader.probes import probe

__all__ = ["MAX_DENSE_ASSIGNMENTS", "dense_candidates", "drawn_values", "mlp_forward",
           "trainable_shapes"]

# At most this many kernel/bias assignments are tried when a from-scratch
# model has several variables of one shape (h1 == h2, unused extras).
MAX_DENSE_ASSIGNMENTS = 64


@probe
def trainable_shapes(net):
    """Shapes of the model's trainable variables, in order (a probe)."""
    return [tuple(int(d) for d in v.shape) for v in net.trainable_variables]


def _adjacent_params(shapes, wanted):
    """Kernel-then-bias index pairs created one after the other (one Dense layer each)."""
    free = list(range(len(shapes)))
    found = []
    for kernel_shape, bias_shape in wanted:
        for position in range(len(free) - 1):
            kernel, bias = free[position], free[position + 1]
            if shapes[kernel] == kernel_shape and shapes[bias] == bias_shape:
                found.append((kernel, bias))
                del free[position: position + 2]
                break
        else:
            return None
    return found


def dense_candidates(shapes, wanted):
    """Candidate `[(kernel index, bias index), ...]` per layer, most likely first.

    Variables are matched by shape whatever order they were created in
    (`add_weight` kernels first, then biases, is as valid as one Dense layer
    after the other). First the kernel-then-bias pairing, then every
    assignment of distinct variables of the right shapes in creation order
    (at most `MAX_DENSE_ASSIGNMENTS`); the caller keeps the first one that
    reproduces the model's output.
    """
    candidates = []
    adjacent = _adjacent_params(shapes, wanted)
    if adjacent is not None:
        candidates.append(adjacent)
    kernel_choices = [[i for i, s in enumerate(shapes) if s == kernel_shape]
                      for kernel_shape, _ in wanted]
    bias_choices = [[i for i, s in enumerate(shapes) if s == bias_shape]
                    for _, bias_shape in wanted]
    tried = 0
    for kernels in itertools.product(*kernel_choices):
        if len(set(kernels)) < len(kernels):
            continue
        for biases in itertools.product(*bias_choices):
            if len(set(biases)) < len(biases) or set(biases) & set(kernels):
                continue
            if tried == MAX_DENSE_ASSIGNMENTS:
                return candidates
            tried += 1
            candidates.append(list(zip(kernels, biases)))
    return candidates


def drawn_values(rng, shapes):
    """Seeded values for variables of `shapes`: kernels N(0, 1/fan_in), vectors N(0, 0.1^2)."""
    return [(rng.normal(0.0, 1.0 / math.sqrt(shape[0]), size=shape) if len(shape) >= 2
             else rng.normal(0.0, 0.1, size=shape)).astype("float32") for shape in shapes]


def mlp_forward(X, layers, softmax=False):
    H = np.asarray(X, dtype=np.float64).reshape(X.shape[0], -1)  # (N, ...) -> (N, d)
    for number, (W, b) in enumerate(layers):
        H = H @ W + b
        if number < len(layers) - 1:
            H = np.maximum(H, 0.0)
    if softmax:
        H = np.exp(H - H.max(axis=1, keepdims=True))
        H = H / H.sum(axis=1, keepdims=True)
    return H
