"""Sample submissions to ``ch07_cnn`` (see `grader.demo.students`).

Graded cells and points: test_corr2d 2, test_conv_output_shape 2,
test_corr2d_multi_in 2, test_corr2d_multi_in_out 2, test_corr2d_multi_in_out_1x1 2,
test_pool2d 2, test_lenet 3. A check's score is ``points * passed weight / total
weight`` (each case weighs 1 unless the check says otherwise), hidden cases
included under autograde.
The typical mistakes are in functions no other exercise calls, so that each
costs its own cell only (a wrong `corr2d` would also sink the multi-channel
exercises built on it).
"""

from grader.demo.students import Submission, class_submissions

__all__ = ["SUBMISSIONS"]

_BEN = {
    "corr2d": '''\
def corr2d(X, K):
    X = np.asarray(X, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    k_h, k_w = K.shape
    Y = np.zeros((X.shape[0] - k_h + 1, X.shape[1] - k_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + k_h, j:j + k_w] * K).sum()
    return Y''',
    "conv_output_shape": '''\
import math

def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    return tuple(
        math.floor((n - k + p + s) / s)
        for n, k, p, s in zip(input_size, kernel_size, padding, stride)
    )''',
    "corr2d_multi_in": '''\
def corr2d_multi_in(X, K):
    return sum(corr2d(x, k) for x, k in zip(np.asarray(X), np.asarray(K)))''',
    "corr2d_multi_in_out": '''\
def corr2d_multi_in_out(X, K):
    return np.stack([corr2d_multi_in(X, k) for k in np.asarray(K)])''',
    "corr2d_multi_in_out_1x1": '''\
def corr2d_multi_in_out_1x1(X, K):
    X = np.asarray(X, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    c_i, h, w = X.shape
    c_o = K.shape[0]
    # (c_o, c_i, 1, 1) @ (c_i, h*w) -> (c_o, h*w) -> (c_o, h, w)
    return (K.reshape(c_o, c_i) @ X.reshape(c_i, h * w)).reshape(c_o, h, w)''',
    "pool2d": '''\
def pool2d(X, pool_size, mode="max"):
    if mode not in ("max", "avg"):
        raise ValueError(f"unknown mode {mode!r}")
    X = np.asarray(X, dtype=np.float64)
    p_h, p_w = pool_size
    Y = np.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i:i + p_h, j:j + p_w]
            Y[i, j] = window.max() if mode == "max" else window.mean()
    return Y''',
}

_CHLOE = {
    # No floor: true division gives 54.25 for AlexNet's first layer.
    "conv_output_shape": '''\
def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    return tuple(
        (n - k + p + s) / s for n, k, p, s in zip(input_size, kernel_size, padding, stride)
    )''',
    # Keras pooling with padding="same": the output keeps the input's size.
    "pool2d": '''\
def pool2d(X, pool_size, mode="max"):
    X = tf.reshape(tf.cast(X, tf.float32), (1, X.shape[0], X.shape[1], 1))
    layer = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    Y = layer(pool_size=pool_size, strides=1, padding="same")(X)
    return tf.reshape(Y, Y.shape[1:3])''',
    # Max instead of average pooling: same parameters, other outputs.
    "lenet": '''\
def lenet():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, kernel_size=5, padding="same", activation="sigmoid"),
        keras.layers.MaxPooling2D(pool_size=2, strides=2),
        keras.layers.Conv2D(16, kernel_size=5, activation="sigmoid"),
        keras.layers.MaxPooling2D(pool_size=2, strides=2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="sigmoid"),
        keras.layers.Dense(84, activation="sigmoid"),
        keras.layers.Dense(10),
    ])''',
}

SUBMISSIONS = class_submissions(
    ben=Submission(answers=_BEN),
    chloe=Submission(
        answers=_CHLOE,
        expected={
            # No floor: of the 7 cases only the two with stride 1 everywhere
            # ("valid, stride 1" and the hidden "defaults") give whole numbers.
            "test_conv_output_shape": 2 * 2 / 7,
            # padding="same" keeps the input's shape: of the 7 cases only the
            # hidden 1x1 window (where same equals valid) passes.
            "test_pool2d": 2 * 1 / 7,
            # Max pooling keeps the parameter count (weight 1) and the output
            # shape (weight 1) but fails the structure (1) and outputs (2).
            "test_lenet": 3 * 2 / 5,
        },
    ),
    eve=Submission(
        answers={
            # Adds tuples instead of their entries: TypeError on every call.
            "conv_output_shape": '''\
def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    return (input_size - kernel_size + padding + stride) // stride''',
            # An unknown padding mode: Keras raises ValueError when building.
            "lenet": '''\
def lenet():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, kernel_size=5, padding="full", activation="sigmoid"),
        keras.layers.AveragePooling2D(pool_size=2, strides=2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])''',
        },
        expected={"test_conv_output_shape": 0.0, "test_lenet": 0.0},
    ),
    finn=Submission(
        answers={
            # Never terminates: the grader's per-case budget stops it in the test
            # cell; the one example cell calling it hits the notebook cell timeout.
            "pool2d": '''\
def pool2d(X, pool_size, mode="max"):
    i = 0
    while i >= 0:
        i += 1''',
        },
        expected={"test_pool2d": 0.0},
    ),
    gia=Submission(
        answers={
            # Calls the reference.
            "conv_output_shape": '''\
def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    return kerasdl.conv_output_shape(input_size, kernel_size, padding, stride)''',
            # An array-like that claims to equal everything.
            "pool2d": '''\
class _Anything:
    shape = (2, 2)
    dtype = "float32"

    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        raise TypeError("not an array")

def pool2d(X, pool_size, mode="max"):
    return _Anything()''',
            # Returns the reference model.
            "lenet": '''\
def lenet():
    return kerasdl.lenet()''',
        },
        expected={"test_conv_output_shape": 0.0, "test_pool2d": 0.0, "test_lenet": 0.0},
    ),
    hal=Submission(
        base="stub",
        answers={
            # The kernel's own check now prints full points for every exercise;
            # the judge, outside the kernel, grades the untouched stubs: 0.
            "corr2d": '''\
grader.check = lambda exercise_id, obj, **kwargs: grader.points(exercise_id)

def corr2d(X, K):
    raise NotImplementedError''',
        },
    ),
)
