"""Datasets of the course: Fashion-MNIST from IDX files, and small synthetic data.

Fashion-MNIST is read offline from its four IDX ``.gz`` files. The loader looks,
in order, in the ``data_dir`` argument, ``$KERASDL_DATA_DIR``, the Keras cache
(``${KERAS_HOME:-~/.keras}/datasets/fashion-mnist/``) and the directory of the
Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/``);
only when none of them holds the files does it try a Keras download.

Source: notes, 3.3 Synthetic Regression Data; 3.4 Linear Regression
Implementation from Scratch (minibatches); 4.2 The Image Classification Dataset.
"""

import contextlib
import functools
import gzip
import io
import math
import numbers
import os
import pathlib
import socket
import warnings
import zlib

import keras
import numpy as np
import tensorflow as tf

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

# The four IDX files of Fashion-MNIST, as named by the dataset, Keras and Debian.
TRAIN_IMAGES_FILE = "train-images-idx3-ubyte.gz"
TRAIN_LABELS_FILE = "train-labels-idx1-ubyte.gz"
TEST_IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
TEST_LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
FASHION_MNIST_FILES = (
    TRAIN_IMAGES_FILE,
    TRAIN_LABELS_FILE,
    TEST_IMAGES_FILE,
    TEST_LABELS_FILE,
)

# Environment variable naming a directory that holds the four files.
DATA_DIR_ENV = "KERASDL_DATA_DIR"
# Where the Debian package dataset-fashion-mnist installs the files.
SYSTEM_DATA_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
# Image side in pixels and number of classes of Fashion-MNIST.
IMAGE_SIZE = 28
NUM_CLASSES = 10
# Largest pixel value of a uint8 image; dividing by it maps pixels to [0, 1].
MAX_PIXEL_VALUE = 255.0
# Seconds a single network read may block during the download attempt, so an
# offline machine behind a silent firewall fails fast instead of hanging.
DOWNLOAD_TIMEOUT_S = 15.0
# Standard deviation of the label noise of `synthetic_data` (notes, 3.3).
SYNTHETIC_NOISE_STD = 0.01
# Cached Fashion-MNIST directories kept in memory (about 55 MB each).
_CACHE_SIZE = 2

# IDX type code (third byte of the magic number) -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
# Bytes of the fixed part of an IDX header (the magic number) and per dimension.
_IDX_MAGIC_BYTES = 4
_IDX_DIM_BYTES = 4
# First two bytes of any gzip stream.
_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """An IDX file, or a pair of them, is not what it should be.

    The message names the file and what is wrong (bad magic number, unknown
    type code, truncated header or data, bad gzip stream, mismatched sizes).
    """


class DatasetNotFoundError(FileNotFoundError):
    """No place holds the Fashion-MNIST files and the download did not work.

    Attributes:
        tried: list of str, one line per place tried with what was found there.
    """

    def __init__(self, message, tried=()):
        super().__init__(message)
        self.tried = list(tried)


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


# ---------------------------------------------------------------------------
# IDX files


def read_idx(path):
    """Read an IDX file (gzip-compressed or raw) into a NumPy array.

    An IDX file is a big-endian header followed by the data: a 4-byte magic
    number `0x0000TTDD` (two zero bytes, the type code `TT`, the number of
    dimensions `DD`), one 4-byte size per dimension, then the values in C order.
    Fashion-MNIST uses `0x00000801` (labels, 1-D uint8) and `0x00000803`
    (images, 3-D uint8). All type codes of the format are read: `0x08` uint8,
    `0x09` int8, `0x0B` int16, `0x0C` int32, `0x0D` float32, `0x0E` float64.

    The file is decompressed when its name ends in `.gz` or its content starts
    with the gzip magic bytes.

    Args:
        path: str or path-like, the IDX file.

    Returns:
        A read-only `np.ndarray` in native byte order with the dtype of the
        type code and the shape of the header (`.copy()` it to write).

    Raises:
        FileNotFoundError: `path` does not exist.
        IDXFormatError: the file is not a valid IDX file: bad gzip stream, bad
            magic number, unknown type code, no dimensions, truncated header,
            truncated data or trailing bytes. The message names the file.

    Source: notes, 4.2 The Image Classification Dataset.
    """
    path = pathlib.Path(path)
    raw = path.read_bytes()
    where = f"IDX file '{path}'"
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise IDXFormatError(f"{where} is not a valid gzip file: {error}") from None

    if len(raw) < _IDX_MAGIC_BYTES:
        raise IDXFormatError(
            f"{where} has a truncated header: {len(raw)} bytes, the magic number "
            f"alone needs {_IDX_MAGIC_BYTES}."
        )
    magic = int.from_bytes(raw[:_IDX_MAGIC_BYTES], "big")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXFormatError(
            f"{where} has a bad magic number 0x{magic:08x}: an IDX magic number "
            "starts with two zero bytes (0x0000TTDD)."
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        supported = ", ".join(f"0x{code:02x}" for code in _IDX_DTYPES)
        raise IDXFormatError(
            f"{where} has an unsupported type code 0x{type_code:02x} in its magic "
            f"number 0x{magic:08x} (supported: {supported})."
        )
    if ndim == 0:
        raise IDXFormatError(
            f"{where} declares 0 dimensions in its magic number 0x{magic:08x}."
        )
    header_bytes = _IDX_MAGIC_BYTES + _IDX_DIM_BYTES * ndim
    if len(raw) < header_bytes:
        raise IDXFormatError(
            f"{where} has a truncated header: {len(raw)} bytes, but {ndim} "
            f"dimensions need {header_bytes}."
        )
    shape = tuple(
        int(n) for n in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4)
    )
    if any(n < 0 for n in shape):
        raise IDXFormatError(f"{where} has a negative dimension size: {shape}.")
    dtype = _IDX_DTYPES[type_code]
    count = math.prod(shape)
    expected_bytes = count * dtype.itemsize
    data_bytes = len(raw) - header_bytes
    if data_bytes < expected_bytes:
        raise IDXFormatError(
            f"{where} has truncated data: shape {shape} of {dtype.name} needs "
            f"{expected_bytes} bytes, found {data_bytes}."
        )
    if data_bytes > expected_bytes:
        raise IDXFormatError(
            f"{where} has {data_bytes - expected_bytes} trailing bytes after the "
            f"data of shape {shape} of {dtype.name}."
        )
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=header_bytes)
    array = array.astype(dtype.newbyteorder("="), copy=False).reshape(shape)
    array.setflags(write=False)
    return array


def _read_images_labels(directory, images_file, labels_file):
    """Read one split's image and label files and check they belong together."""
    images_path = directory / images_file
    labels_path = directory / labels_file
    X = read_idx(images_path)
    y = read_idx(labels_path)
    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise IDXFormatError(
            f"IDX file '{images_path}' should hold uint8 images of shape "
            f"(n, {IMAGE_SIZE}, {IMAGE_SIZE}); found {X.dtype.name} of shape {X.shape}."
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise IDXFormatError(
            f"IDX file '{labels_path}' should hold 1-D uint8 labels; found "
            f"{y.dtype.name} of shape {y.shape}."
        )
    if X.shape[0] != y.shape[0]:
        raise IDXFormatError(
            f"Size mismatch: IDX file '{images_path}' has {X.shape[0]} images but "
            f"'{labels_path}' has {y.shape[0]} labels."
        )
    if y.size and int(y.max()) >= NUM_CLASSES:
        raise IDXFormatError(
            f"IDX file '{labels_path}' has label {int(y.max())}; Fashion-MNIST "
            f"labels are 0 to {NUM_CLASSES - 1}."
        )
    return X, y


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _read_fashion_mnist_dir(directory, stamp):
    """Read the four files of `directory`; `stamp` (sizes, mtimes) keys the cache."""
    del stamp  # Only part of the cache key: a replaced file is read again.
    directory = pathlib.Path(directory)
    train = _read_images_labels(directory, TRAIN_IMAGES_FILE, TRAIN_LABELS_FILE)
    test = _read_images_labels(directory, TEST_IMAGES_FILE, TEST_LABELS_FILE)
    return train, test


def _files_stamp(directory):
    """(name, size, mtime) of each Fashion-MNIST file in `directory`."""
    stamp = []
    for name in FASHION_MNIST_FILES:
        stat = (directory / name).stat()
        stamp.append((name, stat.st_size, stat.st_mtime_ns))
    return tuple(stamp)


# ---------------------------------------------------------------------------
# Locating and loading Fashion-MNIST


def _keras_cache_dir():
    """Directory where Keras caches Fashion-MNIST."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return pathlib.Path(keras_home) / "datasets" / "fashion-mnist"


def _labelled_search_path(data_dir):
    """(description, directory or None) for each place, in search order."""
    env_dir = os.environ.get(DATA_DIR_ENV)
    return [
        ("data_dir argument", None if data_dir is None else pathlib.Path(data_dir)),
        (f"${DATA_DIR_ENV}", pathlib.Path(env_dir) if env_dir else None),
        ("Keras cache", _keras_cache_dir()),
        ("Debian package dataset-fashion-mnist", SYSTEM_DATA_DIR),
    ]


def fashion_mnist_search_path(data_dir=None):
    """Directories searched for the Fashion-MNIST files, in order.

    The order is: `data_dir` if given, `$KERASDL_DATA_DIR` if set, the Keras
    cache `${KERAS_HOME:-~/.keras}/datasets/fashion-mnist/`, then
    `/usr/share/datasets/fashion-mnist/` (Debian package
    `dataset-fashion-mnist`). The first directory holding all four files
    (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
    `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`) is used.

    Args:
        data_dir: str or path-like, or None; a directory to search first.

    Returns:
        A list of `pathlib.Path`, the places that apply (unset ones left out).
    """
    return [d for _, d in _labelled_search_path(data_dir) if d is not None]


def _keras_download():
    """Fetch Fashion-MNIST with Keras, quietly and with a network timeout.

    Keras stores the files in its cache, where later calls find them. Its
    progress bar goes to stdout; anything written to stderr is discarded.
    """
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras.datasets.fashion_mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous_timeout)


def _check_downloaded(arrays):
    """Check and freeze the arrays a downloader returned."""
    (X_train, y_train), (X_test, y_test) = arrays
    checked = []
    for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        X, y = np.asarray(X), np.asarray(y)
        if (
            X.dtype != np.uint8
            or X.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE)
            or y.shape != (X.shape[0],)
        ):
            raise ValueError(
                f"The downloaded {split} split has images {X.dtype.name} {X.shape} "
                f"and labels {y.dtype.name} {y.shape}; expected uint8 (n, "
                f"{IMAGE_SIZE}, {IMAGE_SIZE}) and (n,)."
            )
        # Read-only views, like the cached arrays; the caller's arrays stay writable.
        X, y = X.view(), y.astype(np.uint8, copy=False).view()
        X.setflags(write=False)
        y.setflags(write=False)
        checked.append((X, y))
    return tuple(checked)


def load_fashion_mnist_arrays(data_dir=None, download=True):
    """Load Fashion-MNIST as uint8 NumPy arrays.

    Searches the places of `fashion_mnist_search_path(data_dir)` in order and
    reads the first directory that holds all four IDX files with `read_idx`.
    The arrays are cached in-process, keyed on the directory and the files'
    sizes and modification times, so later calls return at once. When no
    directory holds the files, `download` decides what happens next.

    Args:
        data_dir: str or path-like, or None; a directory searched first.
        download: bool or callable. `True` tries
            `keras.datasets.fashion_mnist.load_data()` (network reads time out
            after `DOWNLOAD_TIMEOUT_S` seconds, nothing goes to stderr);
            `False` skips the download; a callable taking no arguments and
            returning `((X_train, y_train), (X_test, y_test))` is used instead.

    Returns:
        `((X_train, y_train), (X_test, y_test))`: read-only uint8 arrays,
        images `(60000, 28, 28)` / `(10000, 28, 28)` (pixels 0 to 255) and
        labels `(60000,)` / `(10000,)` (classes 0 to 9, see
        `FASHION_MNIST_LABELS`).

    Raises:
        DatasetNotFoundError: no place holds the files and the download is
            disabled or failed; the message lists every place tried and how
            to get the data.
        IDXFormatError: the files found are corrupt, or the image and label
            files of a split disagree.

    Source: notes, 4.2 The Image Classification Dataset.
    """
    tried = []
    for description, directory in _labelled_search_path(data_dir):
        if directory is None:
            tried.append(f"{description}: not set")
            continue
        missing = [name for name in FASHION_MNIST_FILES if not (directory / name).is_file()]
        if not missing:
            resolved = directory.resolve()
            return _read_fashion_mnist_dir(str(resolved), _files_stamp(resolved))
        if len(missing) == len(FASHION_MNIST_FILES):
            tried.append(f"{description}: {directory} (no Fashion-MNIST files)")
        else:
            tried.append(
                f"{description}: {directory} (incomplete, missing {', '.join(missing)})"
            )

    if download is False or download is None:
        tried.append("Keras download: disabled (download=False)")
    else:
        downloader = _keras_download if download is True else download
        try:
            return _check_downloaded(downloader())
        except Exception as error:  # Any failure becomes one clear error below.
            tried.append(f"Keras download: failed ({type(error).__name__}: {error})")

    places = "\n".join(f"  - {line}" for line in tried)
    files = ", ".join(FASHION_MNIST_FILES)
    raise DatasetNotFoundError(
        "Fashion-MNIST not found. Places tried, in order:\n"
        f"{places}\n"
        "To get the data offline, install the Debian package "
        "(`sudo apt-get install dataset-fashion-mnist`, files in "
        f"{SYSTEM_DATA_DIR}), or put the four files ({files}) in a directory "
        f"and set ${DATA_DIR_ENV} to it or pass `data_dir=`.",
        tried,
    )


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
    return dataset.prefetch(tf.data.AUTOTUNE)


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
    (a non-square size stretches them). Both prefetch. The last batch is
    smaller when the number of examples is not a multiple of `batch_size`.

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
    is smaller when the size is not a multiple of `batch_size`.

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
    return dataset.batch(batch_size)


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
