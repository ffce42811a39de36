"""Fashion-MNIST's files: the IDX format, where the files are found, the arrays.

`read_idx` reads one IDX file (gzip-compressed or raw); `load_fashion_mnist_arrays`
finds the four files of Fashion-MNIST and returns them as uint8 arrays (the
search order is in `kerasdl.data`'s module docstring and
`fashion_mnist_search_path`). `kerasdl.data` builds the course's input
pipelines on them.

Source: notes, 4.2 The Image Classification Dataset.
"""

import contextlib
import functools
import gzip
import io
import math
import os
import pathlib
import socket
import warnings
import zlib

import keras
import numpy as np

__all__ = [
    "DatasetNotFoundError",
    "IDXFormatError",
    "fashion_mnist_search_path",
    "load_fashion_mnist_arrays",
    "read_idx",
]

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
# Seconds a single network read may block during the download attempt, so an
# offline machine behind a silent firewall fails fast instead of hanging.
DOWNLOAD_TIMEOUT_S = 15.0
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
