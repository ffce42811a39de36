"""Datasets of the course: Fashion-MNIST from IDX files, and small synthetic data.

Fashion-MNIST is read offline from its four IDX ``.gz`` files. The loader looks,
in order, in the ``data_dir`` argument, ``$KERASDL_DATA_DIR``, the Keras cache
(``${KERAS_HOME:-~/.keras}/datasets/fashion-mnist/``) and the directory of the
Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``);
only when none of them holds the files does it try a Keras download. Reading
and finding the files is `kerasdl.fashion_mnist`'s part (re-exported here);
this module builds the input pipelines on the arrays.

Source: notes, 3.3 Synthetic Regression Data; 3.4 Linear Regression
Implementation from Scratch (minibatches); 4.2 The Image Classification Dataset.
"""

import functools
import numbers

import numpy as np
import tensorflow as tf

from kerasdl.fashion_mnist import (  # noqa: F401 (re-exported: the file names, the search path)
    DATA_DIR_ENV,
    DOWNLOAD_TIMEOUT_S,
    FASHION_MNIST_FILES,
    IMAGE_SIZE,
    NUM_CLASSES,
    SYSTEM_DATA_DIR,
    TEST_IMAGES_FILE,
    TEST_LABELS_FILE,
    TRAIN_IMAGES_FILE,
    TRAIN_LABELS_FILE,
    DatasetNotFoundError,
    IDXFormatError,
    fashion_mnist_search_path,
    load_fashion_mnist_arrays,
    read_idx,
)

__all__ = [
    "DatasetNotFoundError",
    "FASHION_MNIST_LABELS",
    "IDXFormatError",
    "fashion_mnist_search_path",
    "get_fashion_mnist_labels",
    "load_array",
    "load_fashion_mnist",
    "load_fashion_mnist_arrays",
    "read_idx",
    "show_images",
    "synthetic_data",
]

# Text labels of the 10 Fashion-MNIST classes, indexed by the integer label.
FASHION_MNIST_LABELS = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)

# Largest pixel value of a uint8 image; dividing by it maps pixels to [0, 1].
MAX_PIXEL_VALUE = 255.0
# Standard deviation of the label noise of `synthetic_data` (notes, 3.3).
SYNTHETIC_NOISE_STD = 0.01

# ---------------------------------------------------------------------------
# Argument checks


def _check_positive_int(name, value):
    """Return `value` as an int if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    if value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def _check_resize(resize):
    """Return `resize` as an `(h, w)` tuple of ints, or None."""
    if resize is None:
        return None
    message = (
        "`resize` must be None, a positive int or a pair (height, width) of "
        f"positive ints. Received: resize={resize!r}"
    )
    if isinstance(resize, numbers.Integral) and not isinstance(resize, bool):
        size = (resize, resize)
    elif isinstance(resize, (tuple, list)) and len(resize) == 2:
        size = tuple(resize)
    else:
        raise ValueError(message)
    for side in size:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral):
            raise ValueError(message)
        if side <= 0:
            raise ValueError(message)
    return int(size[0]), int(size[1])


def _check_seed(seed):
    """Return `seed` as an int, or None; raise for anything else."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"`seed` must be a non-negative integer or None. Received: seed={seed!r}"
        )
    if seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative integer or None. Received: seed={seed!r}"
        )
    return int(seed)

def _subset(X, y, num, name, rng):
    """The first `num` examples of a seeded permutation, in original order."""
    if num is None:
        return X, y
    num = _check_positive_int(name, num)
    if num > len(X):
        raise ValueError(
            f"`{name}` must be at most the number of examples ({len(X)}). "
            f"Received: {name}={num}"
        )
    indices = np.sort(rng.permutation(len(X))[:num])
    return X[indices], y[indices]


def _to_float_nhwc(X, y, size):
    """uint8 `(N, H, W)` images and labels -> float32 NHWC in [0, 1], int32."""
    X = tf.cast(X, tf.float32) / MAX_PIXEL_VALUE
    X = tf.expand_dims(X, axis=-1)  # (N, H, W) -> (N, H, W, 1)
    if size is not None:
        # Bilinear interpolation averages neighbours, so values stay in [0, 1].
        X = tf.image.resize(X, size)  # (N, H, W, 1) -> (N, h, w, 1)
    return X, tf.cast(y, tf.int32)


def _without_autotuning(dataset):
    """`dataset` with tf.data's autotuning off (`tf.data.Options.autotune`).

    Dropping an iterator of an autotuned pipeline, as every epoch's end does,
    can block, idle, until the autotuning thread's next scheduled wake-up
    (measured with TensorFlow 2.21 on 2 CPU cores: LeNet epochs of about 4 s
    took 5.12 s). These pipelines are in memory; `AUTOTUNE` settings then
    keep TensorFlow's untuned defaults.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def _image_pipeline(X, y, batch_size, size, shuffle, seed):
    """A batched, prefetched `tf.data` pipeline over uint8 arrays."""
    dataset = tf.data.Dataset.from_tensor_slices((X, y))
    if shuffle:
        # Shuffle examples before batching, over the whole set, anew each pass.
        dataset = dataset.shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(
        functools.partial(_to_float_nhwc, size=size),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def load_fashion_mnist(
    batch_size,
    resize=None,
    *,
    num_train=None,
    num_test=None,
    data_dir=None,
    seed=0,
    download=True,
):
    """Fashion-MNIST as `tf.data` pipelines of NHWC float32 images.

    The training pipeline shuffles the examples before batching, with a buffer
    as large as the set, and reshuffles at every pass (seeded by `seed`, so the
    sequence of epoch orders is reproducible). The test pipeline keeps the
    files' order. Both convert the uint8 pixels to float32 in [0, 1] and add a
    channel axis; with `resize` the images are scaled by bilinear interpolation
    (a non-square size stretches them). Both prefetch. tf.data's autotuning
    is off: dropping an autotuned iterator at an epoch's end can wait, idle,
    for the autotuning thread. The last batch is smaller when the number of
    examples is not a multiple of `batch_size`.

    `num_train` / `num_test` keep a seeded random subset: the first `n` indices
    of a permutation drawn with `np.random.default_rng(seed)` (train first,
    then test, from the same generator), kept in the files' order. The subset
    is not stratified; class counts vary around `n / 10`.

    Args:
        batch_size: positive int, examples per batch.
        resize: None, a positive int `s` (for `(s, s)`) or a pair `(h, w)` of
            positive ints, the output image size in pixels.
        num_train: None or a positive int at most 60000, training examples kept.
        num_test: None or a positive int at most 10000, test examples kept.
        data_dir: str or path-like, or None; a directory searched first (see
            `load_fashion_mnist_arrays`).
        seed: non-negative int or None, seeds the subsets and the shuffling
            (None: not reproducible).
        download: see `load_fashion_mnist_arrays`.

    Returns:
        `(train_iter, test_iter)`, two `tf.data.Dataset`s yielding
        `(X, y)`: `X` float32 `(batch, 28, 28, 1)` or `(batch, h, w, 1)` in
        [0, 1], `y` int32 `(batch,)` class indices.

    Raises:
        TypeError: `batch_size`, `num_train`, `num_test` or `seed` is not an int.
        ValueError: `batch_size` is not positive, `resize` is malformed, or a
            subset size is out of range.
        DatasetNotFoundError: see `load_fashion_mnist_arrays`.

    Source: notes, 4.2 The Image Classification Dataset.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    size = _check_resize(resize)
    seed = _check_seed(seed)
    for name, num in (("num_train", num_train), ("num_test", num_test)):
        if num is not None:
            _check_positive_int(name, num)
    (X_train, y_train), (X_test, y_test) = load_fashion_mnist_arrays(
        data_dir, download
    )
    rng = np.random.default_rng(seed)
    X_train, y_train = _subset(X_train, y_train, num_train, "num_train", rng)
    X_test, y_test = _subset(X_test, y_test, num_test, "num_test", rng)
    train_iter = _image_pipeline(X_train, y_train, batch_size, size, True, seed)
    test_iter = _image_pipeline(X_test, y_test, batch_size, size, False, seed)
    return train_iter, test_iter


def get_fashion_mnist_labels(labels):
    """Text labels of Fashion-MNIST class indices.

    Args:
        labels: an int, or a sequence, NumPy array or tensor of integer class
            indices in 0..9 (any shape; flattened in C order).

    Returns:
        A list of str from `FASHION_MNIST_LABELS`, one per index.

    Raises:
        TypeError: `labels` does not hold integers.
        ValueError: an index is outside 0..9.

    Source: notes, 4.2 The Image Classification Dataset.
    """
    indices = np.asarray(labels).reshape(-1)  # any shape -> (n,)
    if indices.size and not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            "`labels` must hold integer class indices. "
            f"Received: labels with dtype {indices.dtype}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= NUM_CLASSES):
        raise ValueError(
            f"`labels` must be class indices in 0..{NUM_CLASSES - 1}. "
            f"Received: labels={indices.tolist()}"
        )
    return [FASHION_MNIST_LABELS[int(i)] for i in indices]


def load_array(data_arrays, batch_size, is_train=True, seed=None):
    """A `tf.data` pipeline of minibatches over in-memory arrays.

    Slices every array along its first axis; with `is_train` the examples are
    shuffled before batching (full-size buffer, reshuffled at every pass), so
    each pass visits every example exactly once in a new order. The last batch
    is smaller when the size is not a multiple of `batch_size`. tf.data's
    autotuning is off, as in `load_fashion_mnist`.

    Args:
        data_arrays: tuple or list of arrays or tensors with the same first
            dimension, e.g. `(features, labels)`.
        batch_size: positive int, examples per batch.
        is_train: bool, shuffle when True.
        seed: int or None, the shuffle seed.

    Returns:
        A `tf.data.Dataset` yielding tuples of batches, one per array.

    Raises:
        TypeError: `batch_size` is not an int, or `data_arrays` is not a tuple
            or list.
        ValueError: `batch_size` is not positive, `data_arrays` is empty, or
            the arrays have different first dimensions.

    Source: notes, 3.5 Concise Implementation of Linear Regression.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    if not isinstance(data_arrays, (tuple, list)):
        raise TypeError(
            "`data_arrays` must be a tuple or list of arrays. "
            f"Received: data_arrays of type {type(data_arrays).__name__}"
        )
    if not data_arrays:
        raise ValueError("`data_arrays` must not be empty. Received: data_arrays=()")
    lengths = [int(tf.shape(array)[0]) for array in data_arrays]
    if len(set(lengths)) != 1:
        raise ValueError(
            "`data_arrays` must have the same first dimension. "
            f"Received: data_arrays with first dimensions {lengths}"
        )
    dataset = tf.data.Dataset.from_tensor_slices(tuple(data_arrays))
    if is_train:
        dataset = dataset.shuffle(lengths[0], seed=seed, reshuffle_each_iteration=True)
    return _without_autotuning(dataset.batch(batch_size))


def synthetic_data(w, b, num_examples, seed=None):
    """Generate `y = Xw + b + noise` for linear regression.

    `X` has independent standard normal entries, `noise ~ N(0, 0.01^2)`.
    With `seed` the draws come from `tf.random.Generator.from_seed(seed)`
    (reproducible, independent of the global seed); without it from
    `tf.random.normal` (reproducible after `kerasdl.set_seed`).

    Args:
        w: 1-D weights of length `d` (list, array or tensor).
        b: scalar bias.
        num_examples: positive int, number of examples `n`.
        seed: int or None.

    Returns:
        `(X, y)`: float32 `tf.Tensor`s of shapes `(n, d)` and `(n, 1)`.

    Raises:
        TypeError: `num_examples` is not an int.
        ValueError: `num_examples` is not positive.

    Source: notes, 3.3 Synthetic Regression Data.
    """
    num_examples = _check_positive_int("num_examples", num_examples)
    w = tf.reshape(tf.cast(w, tf.float32), (-1, 1))  # (d,) -> (d, 1)
    b = tf.cast(b, tf.float32)
    X_shape = (num_examples, w.shape[0])
    y_shape = (num_examples, 1)
    if seed is None:
        X = tf.random.normal(X_shape)
        noise = tf.random.normal(y_shape, stddev=SYNTHETIC_NOISE_STD)
    else:
        generator = tf.random.Generator.from_seed(seed)
        X = generator.normal(X_shape)
        noise = generator.normal(y_shape, stddev=SYNTHETIC_NOISE_STD)
    y = tf.matmul(X, w) + b + noise
    return X, y


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    """Plot a grid of images.

    Fills the grid row by row with the first `num_rows * num_cols` images;
    grey-level images use a grey colour map. The figure is closed in pyplot
    before it is returned, so a notebook displays it once (as the cell's
    value) and no window opens.

    Args:
        imgs: images as an array, tensor or list: `(n, h, w)`, `(n, h, w, 1)`
            (grey) or `(n, h, w, 3)` (RGB).
        num_rows: positive int, rows of the grid.
        num_cols: positive int, columns of the grid.
        titles: None or a sequence of str, one title per image.
        scale: positive float, inches per grid cell.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        TypeError: `num_rows` or `num_cols` is not an int.
        ValueError: `num_rows` or `num_cols` is not positive.

    Source: notes, 4.2 The Image Classification Dataset.
    """
    import matplotlib.pyplot as plt

    num_rows = _check_positive_int("num_rows", num_rows)
    num_cols = _check_positive_int("num_cols", num_cols)
    imgs = np.asarray(imgs)
    if imgs.ndim == 4 and imgs.shape[-1] == 1:
        imgs = imgs[..., 0]  # (N, H, W, 1) -> (N, H, W)
    fig, axes = plt.subplots(
        num_rows,
        num_cols,
        figsize=(num_cols * scale, num_rows * scale),
        squeeze=False,
    )
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray" if imgs[i].ndim == 2 else None)
        if titles is not None and i < len(titles):
            ax.set_title(titles[i])
    plt.close(fig)
    return fig
