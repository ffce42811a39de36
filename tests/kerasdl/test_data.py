"""Tests for kerasdl.data: IDX reading, Fashion-MNIST loading, synthetic data."""

import gzip
import math
import os
import re
import socket
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl import data, fashion_mnist

# Relative tolerance for float32 pixel values against float64 NumPy.
FLOAT32_RTOL = 1e-6
# Number of standard errors a sample moment may stray from its true value.
NUM_STANDARD_ERRORS = 5
# Examples drawn for the moment tests of synthetic_data.
NUM_SYNTHETIC = 20_000
# Sizes of the small fake Fashion-MNIST written to tmp_path.
FAKE_NUM_TRAIN = 23
FAKE_NUM_TEST = 11
# Fashion-MNIST sizes.
NUM_TRAIN = 60_000
NUM_TEST = 10_000
NUM_CLASSES = 10
IMAGE_SIZE = 28

# IDX type codes used below.
IDX_UBYTE = 0x08
IDX_SHORT = 0x0B
IDX_FLOAT = 0x0D
IDX_DOUBLE = 0x0E


def idx_bytes(array, type_code=IDX_UBYTE, dtype=">u1"):
    """Serialise `array` as an IDX file: magic, big-endian sizes, data."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim])
    header += np.asarray(array.shape, dtype=">i4").tobytes()
    return header + array.astype(dtype).tobytes()


def write_idx(path, payload):
    """Write IDX bytes, gzip-compressed when the name ends in .gz."""
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def fake_split(num, offset):
    """uint8 images whose pixel (0, 0) is the example's id, and labels id % 10."""
    rng = np.random.default_rng(offset)
    X = rng.integers(0, 256, size=(num, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    ids = np.arange(offset, offset + num)
    X[:, 0, 0] = ids
    y = (ids % NUM_CLASSES).astype(np.uint8)
    return X, y


def write_fake_fashion_mnist(directory, num_train=FAKE_NUM_TRAIN, num_test=FAKE_NUM_TEST):
    """Write a tiny valid Fashion-MNIST (four .gz IDX files) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    X_train, y_train = fake_split(num_train, offset=0)
    X_test, y_test = fake_split(num_test, offset=100)
    write_idx(directory / data.TRAIN_IMAGES_FILE, idx_bytes(X_train))
    write_idx(directory / data.TRAIN_LABELS_FILE, idx_bytes(y_train))
    write_idx(directory / data.TEST_IMAGES_FILE, idx_bytes(X_test))
    write_idx(directory / data.TEST_LABELS_FILE, idx_bytes(y_test))
    return (X_train, y_train), (X_test, y_test)


def assert_identical(a, b):
    """Bitwise equality of two arrays (same dtype, shape and bytes)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def pipeline_ids(dataset):
    """Per batch, the example ids (pixel (0, 0) * 255) a pipeline yields."""
    return [
        np.rint(X[:, 0, 0, 0].numpy() * data.MAX_PIXEL_VALUE).astype(int)
        for X, _ in dataset
    ]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """Point every search place at empty directories under tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DATA_DIR", tmp_path / "system")
    return tmp_path


@pytest.fixture
def fake_dir(isolated):
    """A tiny Fashion-MNIST in tmp_path, with its arrays."""
    directory = isolated / "fake"
    arrays = write_fake_fashion_mnist(directory)
    return directory, arrays


@pytest.fixture(scope="module")
def real_arrays():
    """The real Fashion-MNIST, or a skip when it is not installed."""
    try:
        return data.load_fashion_mnist_arrays(download=False)
    except data.DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


# ---------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_read_idx_round_trip_uint8(tmp_path, name):
    """Does a uint8 3-D IDX file, raw or gzip, read back as written?"""
    X, _ = fake_split(5, offset=0)
    result = data.read_idx(write_idx(tmp_path / name, idx_bytes(X)))
    assert_identical(result, X)


def test_read_idx_detects_gzip_by_content(tmp_path):
    """Is a gzip stream decompressed even without a .gz suffix?"""
    y = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels.idx"
    path.write_bytes(gzip.compress(idx_bytes(y)))
    assert_identical(data.read_idx(path), y)


@pytest.mark.parametrize(
    "type_code, big_endian, native",
    [(IDX_SHORT, ">i2", np.int16), (IDX_FLOAT, ">f4", np.float32), (IDX_DOUBLE, ">f8", np.float64)],
)
def test_read_idx_other_type_codes(tmp_path, type_code, big_endian, native):
    """Are multi-byte IDX types read big-endian into native arrays?"""
    rng = np.random.default_rng(0)
    expected = (rng.standard_normal((3, 4)) * 1000).astype(native)
    path = write_idx(tmp_path / "x.idx", idx_bytes(expected, type_code, big_endian))
    result = data.read_idx(path)
    assert result.dtype.isnative
    assert_identical(result, expected)


def test_read_idx_is_read_only(tmp_path):
    """Is the returned array protected against writes (it may be cached)?"""
    path = write_idx(tmp_path / "y.idx", idx_bytes(np.arange(4, dtype=np.uint8)))
    with pytest.raises(ValueError, match="read-only"):
        data.read_idx(path)[0] = 1


def idx_error(path, *key_words):
    """pytest.raises for an IDXFormatError naming `path` and the key words."""
    pattern = re.escape(str(path)) + ".*" + ".*".join(re.escape(w) for w in key_words)
    return pytest.raises(data.IDXFormatError, match=re.compile(pattern, re.DOTALL))


def test_read_idx_bad_magic(tmp_path):
    """Is a magic number not starting with two zero bytes rejected by name?"""
    payload = bytearray(idx_bytes(np.zeros((2, 3, 3), np.uint8)))
    payload[:2] = b"\x12\x34"
    path = write_idx(tmp_path / "bad.idx", bytes(payload))
    with idx_error(path, "bad magic number 0x12340803"):
        data.read_idx(path)


def test_read_idx_unsupported_type_code(tmp_path):
    """Is an unknown type code (0x07) rejected rather than guessed?"""
    path = write_idx(tmp_path / "t.idx.gz", idx_bytes(np.zeros(4, np.uint8), type_code=0x07))
    with idx_error(path, "unsupported type code 0x07", "0x00000701"):
        data.read_idx(path)


def test_read_idx_zero_dimensions(tmp_path):
    """Is a header declaring no dimensions rejected?"""
    path = write_idx(tmp_path / "z.idx", bytes([0, 0, IDX_UBYTE, 0]))
    with idx_error(path, "declares 0 dimensions"):
        data.read_idx(path)


@pytest.mark.parametrize(
    "payload, key_words",
    [
        (b"\x00\x00", ("truncated header", "2 bytes", "needs 4")),
        (bytes([0, 0, IDX_UBYTE, 3]) + b"\x00\x00\x00\x02", ("truncated header", "3 dimensions need 16")),
    ],
    ids=["magic", "sizes"],
)
def test_read_idx_truncated_header(tmp_path, payload, key_words):
    """Is a header cut short reported as such, not as a reshape error?"""
    path = write_idx(tmp_path / "h.idx.gz", payload)
    with idx_error(path, *key_words):
        data.read_idx(path)


def test_read_idx_truncated_data(tmp_path):
    """Is missing image data reported with the expected and found sizes?"""
    payload = idx_bytes(np.zeros((2, IMAGE_SIZE, IMAGE_SIZE), np.uint8))[:-100]
    path = write_idx(tmp_path / "d.idx.gz", payload)
    expected = 2 * IMAGE_SIZE * IMAGE_SIZE
    with idx_error(path, "truncated data", f"needs {expected} bytes, found {expected - 100}"):
        data.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    """Are bytes after the declared data rejected?"""
    path = write_idx(tmp_path / "t.idx", idx_bytes(np.zeros(3, np.uint8)) + b"\x01\x02")
    with idx_error(path, "2 trailing bytes"):
        data.read_idx(path)


@pytest.mark.parametrize("kind", ["garbage", "cut"])
def test_read_idx_bad_gzip(tmp_path, kind):
    """Is a corrupt or truncated gzip stream an IDXFormatError naming the file?"""
    compressed = gzip.compress(idx_bytes(np.zeros((2, 5, 5), np.uint8)))
    payload = b"this is not gzip" if kind == "garbage" else compressed[: len(compressed) // 2]
    path = tmp_path / "g.idx.gz"
    path.write_bytes(payload)
    with idx_error(path, "not a valid gzip file"):
        data.read_idx(path)


def test_read_idx_missing_file(tmp_path):
    """Does a missing file raise FileNotFoundError?"""
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "absent.idx.gz")


def test_idx_format_error_is_value_error():
    """Can callers catch IDXFormatError as a ValueError?"""
    assert issubclass(data.IDXFormatError, ValueError)


# ---------------------------------------------------------------------------
# load_fashion_mnist_arrays: search path, cache, checks, download


def test_arrays_from_data_dir(fake_dir):
    """Are the arrays of a data_dir returned as written, as uint8?"""
    directory, ((X_train, y_train), (X_test, y_test)) = fake_dir
    (X1, y1), (X2, y2) = data.load_fashion_mnist_arrays(directory, download=False)
    for result, expected in ((X1, X_train), (y1, y_train), (X2, X_test), (y2, y_test)):
        assert_identical(result, expected)


def test_arrays_are_cached(fake_dir):
    """Does a second call return the cached arrays without reading again?"""
    directory, _ = fake_dir
    first = data.load_fashion_mnist_arrays(directory, download=False)
    second = data.load_fashion_mnist_arrays(directory, download=False)
    assert first[0][0] is second[0][0]


def test_cache_notices_replaced_files(fake_dir):
    """Is a directory whose files were rewritten read again?"""
    directory, _ = fake_dir
    data.load_fashion_mnist_arrays(directory, download=False)
    write_fake_fashion_mnist(directory, num_train=7)
    (X_train, _), _ = data.load_fashion_mnist_arrays(directory, download=False)
    assert X_train.shape[0] == 7


def test_search_order(isolated, monkeypatch):
    """Is the order data_dir, $KERASDL_DATA_DIR, Keras cache, system directory?"""
    places = {
        "arg": isolated / "arg",
        "env": isolated / "env",
        "keras": isolated / "keras_home" / "datasets" / "fashion-mnist",
        "system": isolated / "system",
    }
    # A different number of training examples tells the places apart.
    sizes = {"arg": 3, "env": 4, "keras": 5, "system": 6}
    for name, directory in places.items():
        write_fake_fashion_mnist(directory, num_train=sizes[name])
    monkeypatch.setenv(data.DATA_DIR_ENV, str(places["env"]))

    def num_train(data_dir=None):
        return data.load_fashion_mnist_arrays(data_dir, download=False)[0][0].shape[0]

    assert num_train(places["arg"]) == sizes["arg"]
    assert num_train() == sizes["env"]
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert num_train() == sizes["keras"]
    monkeypatch.setenv("KERAS_HOME", str(isolated / "elsewhere"))
    assert num_train() == sizes["system"]
    assert data.fashion_mnist_search_path(places["arg"]) == [
        places["arg"],
        isolated / "elsewhere" / "datasets" / "fashion-mnist",
        places["system"],
    ]


def test_keras_cache_defaults_to_home(isolated, monkeypatch):
    """Without KERAS_HOME, is ~/.keras/datasets/fashion-mnist searched?"""
    monkeypatch.delenv("KERAS_HOME")
    directory = isolated / "home" / ".keras" / "datasets" / "fashion-mnist"
    write_fake_fashion_mnist(directory, num_train=9)
    (X_train, _), _ = data.load_fashion_mnist_arrays(download=False)
    assert X_train.shape[0] == 9


def test_not_found_lists_every_place(isolated, monkeypatch):
    """Does the not-found error list each place tried and how to get the data?"""
    arg_dir = isolated / "arg"
    partial = isolated / "keras_home" / "datasets" / "fashion-mnist"
    partial.mkdir(parents=True)
    write_idx(partial / data.TRAIN_LABELS_FILE, idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_fashion_mnist_arrays(arg_dir, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert len(info.value.tried) == 5
    for key_words in (
        f"data_dir argument: {arg_dir} (no Fashion-MNIST files)",
        "$KERASDL_DATA_DIR: not set",
        f"Keras cache: {partial} (incomplete, missing {data.TRAIN_IMAGES_FILE}",
        f"dataset-fashion-mnist: {isolated / 'system'}",
        "Keras download: disabled (download=False)",
        "apt-get install dataset-fashion-mnist",
        "set $KERASDL_DATA_DIR",
    ):
        assert key_words in message


def test_failed_download_is_reported(isolated):
    """Is the reason of a failed download part of the not-found error?"""

    def offline():
        raise OSError("network is unreachable")

    expected = "Keras download: failed (OSError: network is unreachable)"
    with pytest.raises(data.DatasetNotFoundError, match=re.escape(expected)):
        data.load_fashion_mnist_arrays(download=offline)


def test_injected_download_is_used(isolated):
    """Are the arrays of a working download callable returned, read-only?"""
    train, test = fake_split(4, offset=0), fake_split(2, offset=50)
    (X_train, y_train), (X_test, _) = data.load_fashion_mnist_arrays(download=lambda: (train, test))
    assert_identical(X_train, train[0])
    assert X_test.shape == (2, IMAGE_SIZE, IMAGE_SIZE)
    assert not X_train.flags.writeable and not y_train.flags.writeable
    assert train[0].flags.writeable  # the downloader's own arrays are untouched


def test_keras_download_is_quiet_and_bounded(isolated, monkeypatch, capsys):
    """Does download=True call Keras with a socket timeout, restore it, and keep stderr clean?"""
    seen = {}

    def fake_load_data():
        seen["timeout"] = socket.getdefaulttimeout()
        print("noise", file=sys.stderr)
        warnings.warn("noise")
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", fake_load_data)
    before = socket.getdefaulttimeout()
    with pytest.raises(data.DatasetNotFoundError, match="Name or service not known"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data.load_fashion_mnist_arrays(download=True)
    assert seen["timeout"] == pytest.approx(data.DOWNLOAD_TIMEOUT_S)
    assert socket.getdefaulttimeout() == before
    assert capsys.readouterr().err == ""


def test_size_mismatch_between_images_and_labels(isolated):
    """Do image and label files of different lengths raise a clear error naming both?"""
    directory = isolated / "fake"
    write_fake_fashion_mnist(directory)
    short_labels = idx_bytes(np.zeros(FAKE_NUM_TRAIN - 1, np.uint8))
    labels = write_idx(directory / data.TRAIN_LABELS_FILE, short_labels)
    images = directory / data.TRAIN_IMAGES_FILE
    pattern = (
        f"Size mismatch: IDX file '{re.escape(str(images))}' has {FAKE_NUM_TRAIN} images "
        f"but '{re.escape(str(labels))}' has {FAKE_NUM_TRAIN - 1} labels"
    )
    with pytest.raises(data.IDXFormatError, match=pattern):
        data.load_fashion_mnist_arrays(directory, download=False)


def test_images_of_wrong_shape(isolated):
    """Is an images file that is not (n, 28, 28) uint8 rejected?"""
    directory = isolated / "fake"
    write_fake_fashion_mnist(directory)
    flat = np.zeros((FAKE_NUM_TEST, IMAGE_SIZE * IMAGE_SIZE), np.uint8)
    write_idx(directory / data.TEST_IMAGES_FILE, idx_bytes(flat))
    expected = "should hold uint8 images of shape (n, 28, 28); found uint8 of shape (11, 784)"
    with pytest.raises(data.IDXFormatError, match=re.escape(expected)):
        data.load_fashion_mnist_arrays(directory, download=False)


def test_labels_out_of_range(isolated):
    """Is a label of 10 or more rejected?"""
    directory = isolated / "fake"
    write_fake_fashion_mnist(directory)
    write_idx(directory / data.TEST_LABELS_FILE, idx_bytes(np.full(FAKE_NUM_TEST, 12, np.uint8)))
    with pytest.raises(data.IDXFormatError, match="has label 12; Fashion-MNIST labels are 0 to 9"):
        data.load_fashion_mnist_arrays(directory, download=False)


def test_corrupt_file_is_not_skipped(isolated, monkeypatch):
    """Does a corrupt file in the first complete place raise instead of falling back?"""
    directory = isolated / "fake"
    write_fake_fashion_mnist(directory)
    write_fake_fashion_mnist(isolated / "system")
    (directory / data.TEST_LABELS_FILE).write_bytes(b"corrupt")
    with pytest.raises(data.IDXFormatError, match="not a valid gzip file"):
        data.load_fashion_mnist_arrays(directory, download=False)


# ---------------------------------------------------------------------------
# load_fashion_mnist on the tiny fake dataset


def test_batches_nhwc_float32_int32(fake_dir):
    """Are test batches NHWC float32 pixels/255 with int32 labels, in file order?"""
    directory, (_, (X_test, y_test)) = fake_dir
    batch_size = 4
    _, test_iter = data.load_fashion_mnist(batch_size, data_dir=directory, download=False)
    batches = list(test_iter)
    sizes = [int(X.shape[0]) for X, _ in batches]
    assert sizes == [4, 4, 3]  # 11 examples: the last batch is smaller
    X = np.concatenate([X.numpy() for X, _ in batches])
    y = np.concatenate([y.numpy() for _, y in batches])
    assert X.dtype == np.float32 and X.shape == (FAKE_NUM_TEST, IMAGE_SIZE, IMAGE_SIZE, 1)
    assert y.dtype == np.int32
    np.testing.assert_allclose(X[..., 0], X_test / 255.0, rtol=FLOAT32_RTOL)
    np.testing.assert_array_equal(y, y_test.astype(np.int32))


@pytest.mark.parametrize("resize, shape", [(32, (32, 32)), ((20, 36), (20, 36))])
def test_resize(fake_dir, resize, shape):
    """Does resize give (batch, h, w, 1) images still in [0, 1]?"""
    directory, _ = fake_dir
    train_iter, test_iter = data.load_fashion_mnist(8, resize, data_dir=directory, download=False)
    for dataset in (train_iter, test_iter):
        X, _ = next(iter(dataset))
        assert tuple(X.shape) == (8, *shape, 1)
        assert float(tf.reduce_min(X)) >= 0.0 and float(tf.reduce_max(X)) <= 1.0


def test_pipelines_turn_autotuning_off(fake_dir):
    """Are tf.data's autotuning options off in both loaders' pipelines?

    Dropping an autotuned iterator at an epoch's end can wait for the
    autotuning thread; the option is what the loaders set to avoid it.
    """
    directory, _ = fake_dir
    pipelines = (*data.load_fashion_mnist(8, data_dir=directory, download=False),
                 data.load_array((np.arange(6.0),), 4))
    for dataset in pipelines:
        assert dataset.options().autotune.enabled is False


def test_shuffle_before_batch_each_epoch(fake_dir):
    """Do two epochs give different orders and batch memberships but the same examples?"""
    directory, _ = fake_dir
    train_iter, _ = data.load_fashion_mnist(5, data_dir=directory, download=False)
    epoch1, epoch2 = pipeline_ids(train_iter), pipeline_ids(train_iter)
    order1, order2 = np.concatenate(epoch1), np.concatenate(epoch2)
    np.testing.assert_array_equal(np.sort(order1), np.arange(FAKE_NUM_TRAIN))
    np.testing.assert_array_equal(np.sort(order2), np.arange(FAKE_NUM_TRAIN))
    assert not np.array_equal(order1, order2)
    # Batching before shuffling would keep each batch's members together.
    assert {frozenset(b) for b in epoch1} != {frozenset(b) for b in epoch2}


def test_shuffle_is_seeded(fake_dir):
    """Do two pipelines with the same seed give the same epoch orders, another seed another?"""
    directory, _ = fake_dir

    def first_epoch(seed):
        train_iter, _ = data.load_fashion_mnist(5, data_dir=directory, download=False, seed=seed)
        return np.concatenate(pipeline_ids(train_iter))

    np.testing.assert_array_equal(first_epoch(3), first_epoch(3))
    assert not np.array_equal(first_epoch(3), first_epoch(4))


def test_subsets(fake_dir):
    """Are num_train/num_test seeded subsets of distinct examples, in file order?"""
    directory, _ = fake_dir

    def ids(**kwargs):
        train_iter, test_iter = data.load_fashion_mnist(4, data_dir=directory, download=False, **kwargs)
        return np.concatenate(pipeline_ids(train_iter)), np.concatenate(pipeline_ids(test_iter))

    train_ids, test_ids = ids(num_train=9, num_test=5, seed=1)
    assert len(train_ids) == 9 and len(set(train_ids)) == 9
    assert np.all(np.diff(test_ids) > 0) and len(test_ids) == 5
    again_train, again_test = ids(num_train=9, num_test=5, seed=1)
    np.testing.assert_array_equal(np.sort(again_train), np.sort(train_ids))
    np.testing.assert_array_equal(again_test, test_ids)
    other_train, _ = ids(num_train=9, num_test=5, seed=2)
    assert set(other_train) != set(train_ids)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"batch_size": 0},
            ValueError,
            "`batch_size` must be a positive integer. Received: batch_size=0",
        ),
        ({"batch_size": -3}, ValueError, "Received: batch_size=-3"),
        ({"batch_size": 2.5}, TypeError, "Received: batch_size=2.5"),
        ({"batch_size": True}, TypeError, "Received: batch_size=True"),
        ({"batch_size": 4, "resize": 0}, ValueError, "Received: resize=0"),
        (
            {"batch_size": 4, "resize": (32, 0)},
            ValueError,
            "pair (height, width) of positive ints. Received: resize=(32, 0)",
        ),
        ({"batch_size": 4, "resize": (1, 2, 3)}, ValueError, "Received: resize=(1, 2, 3)"),
        ({"batch_size": 4, "resize": "big"}, ValueError, "Received: resize='big'"),
        ({"batch_size": 4, "num_train": 0}, ValueError, "Received: num_train=0"),
        ({"batch_size": 4, "num_test": 1.5}, TypeError, "Received: num_test=1.5"),
        (
            {"batch_size": 4, "num_train": FAKE_NUM_TRAIN + 1},
            ValueError,
            f"at most the number of examples ({FAKE_NUM_TRAIN}). "
            f"Received: num_train={FAKE_NUM_TRAIN + 1}",
        ),
        ({"batch_size": 4, "seed": -1}, ValueError, "Received: seed=-1"),
    ],
)
def test_argument_errors(fake_dir, kwargs, error, message):
    """Are bad arguments rejected with a message naming them and their value?"""
    directory, _ = fake_dir
    with pytest.raises(error, match=re.escape(message)):
        data.load_fashion_mnist(data_dir=directory, download=False, **kwargs)


def test_loading_writes_nothing_to_stderr(fake_dir, quiet):
    """Do loading and one pass stay silent on stderr (nbgrader fails such cells)?"""
    directory, _ = fake_dir
    tf.constant(0.0).numpy()  # Device start-up lines, if any, precede the capture.
    with quiet():
        train_iter, test_iter = data.load_fashion_mnist(6, 32, data_dir=directory, download=False)
        for _ in train_iter:
            pass
        for _ in test_iter:
            pass


# ---------------------------------------------------------------------------
# Real Fashion-MNIST


def test_real_arrays(real_arrays):
    """Does the real set have 60,000/10,000 uint8 28x28 images and 6,000 per class in train?"""
    (X_train, y_train), (X_test, y_test) = real_arrays
    assert X_train.shape == (NUM_TRAIN, IMAGE_SIZE, IMAGE_SIZE) and X_train.dtype == np.uint8
    assert X_test.shape == (NUM_TEST, IMAGE_SIZE, IMAGE_SIZE) and X_test.dtype == np.uint8
    assert y_train.shape == (NUM_TRAIN,) and y_test.shape == (NUM_TEST,)
    np.testing.assert_array_equal(np.bincount(y_train), np.full(NUM_CLASSES, NUM_TRAIN // NUM_CLASSES))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(NUM_CLASSES, NUM_TEST // NUM_CLASSES))
    assert int(X_train.min()) == 0 and int(X_train.max()) == 255


def test_real_pipelines(real_arrays):
    """Do real batches come as NHWC float32 in [0, 1] with int32 labels, all 10,000 test examples?"""
    batch_size = 256
    train_iter, test_iter = data.load_fashion_mnist(batch_size)
    X, y = next(iter(train_iter))
    assert tuple(X.shape) == (batch_size, IMAGE_SIZE, IMAGE_SIZE, 1) and X.dtype == tf.float32
    assert y.dtype == tf.int32 and tuple(y.shape) == (batch_size,)
    assert float(tf.reduce_min(X)) >= 0.0 and float(tf.reduce_max(X)) <= 1.0
    sizes = [int(y.shape[0]) for _, y in test_iter]
    assert sum(sizes) == NUM_TEST
    assert sizes[-1] == NUM_TEST % batch_size  # 10,000 = 39 * 256 + 16


def test_real_subset_resize_and_shuffle(real_arrays):
    """Are real subsets of the stated size, resized to 32x32, reshuffled with the same labels?"""
    num_train, num_test, batch_size = 1000, 300, 256
    train_iter, test_iter = data.load_fashion_mnist(
        batch_size, resize=(32, 32), num_train=num_train, num_test=num_test
    )
    X, _ = next(iter(test_iter))
    assert tuple(X.shape) == (batch_size, 32, 32, 1)
    assert sum(int(y.shape[0]) for _, y in test_iter) == num_test
    epoch1 = [y.numpy() for _, y in train_iter]
    epoch2 = [y.numpy() for _, y in train_iter]
    assert [len(b) for b in epoch1] == [256, 256, 256, 232]
    labels1, labels2 = np.concatenate(epoch1), np.concatenate(epoch2)
    np.testing.assert_array_equal(np.bincount(labels1, minlength=10), np.bincount(labels2, minlength=10))
    assert not np.array_equal(labels1, labels2)


# ---------------------------------------------------------------------------
# Labels and images


def test_labels_constant():
    """Are the ten class names in the dataset's order?"""
    assert data.FASHION_MNIST_LABELS == (
        "t-shirt", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle boot",
    )


@pytest.mark.parametrize(
    "labels",
    [[0, 9, 3], np.array([0, 9, 3], np.uint8), tf.constant([0, 9, 3], tf.int64)],
    ids=["list", "numpy", "tensor"],
)
def test_get_labels(labels):
    """Are ints, NumPy arrays and tensors mapped to their names?"""
    assert data.get_fashion_mnist_labels(labels) == ["t-shirt", "ankle boot", "dress"]


def test_get_labels_scalar_and_errors():
    """Does a single int give one name, and are bad indices rejected?"""
    assert data.get_fashion_mnist_labels(7) == ["sneaker"]
    with pytest.raises(ValueError, match=r"class indices in 0..9. Received: labels=\[3, 10\]"):
        data.get_fashion_mnist_labels([3, 10])
    with pytest.raises(TypeError, match="integer class indices"):
        data.get_fashion_mnist_labels([0.5])


def test_show_images():
    """Is a rows x cols figure returned with images and titles, and closed in pyplot?"""
    import matplotlib.pyplot as plt

    imgs = tf.random.stateless_uniform((5, IMAGE_SIZE, IMAGE_SIZE, 1), seed=(0, 0))
    titles = data.get_fashion_mnist_labels([0, 1, 2, 3, 4])
    open_before = plt.get_fignums()
    fig = data.show_images(imgs, 2, 3, titles=titles, scale=1.0)
    assert plt.get_fignums() == open_before
    assert len(fig.axes) == 6
    assert [len(ax.images) for ax in fig.axes] == [1, 1, 1, 1, 1, 0]
    assert [ax.get_title() for ax in fig.axes[:5]] == titles
    np.testing.assert_allclose(fig.get_size_inches(), [3.0, 2.0])
    with pytest.raises(ValueError, match="Received: num_rows=0"):
        data.show_images(imgs, 0, 3)


# ---------------------------------------------------------------------------
# load_array


def test_load_array_each_example_once():
    """Does each pass visit every example once, pairs aligned, in a new order each pass?"""
    features = np.arange(23, dtype=np.float32).reshape(-1, 1)
    labels = np.arange(23, dtype=np.int64) * 2
    data_iter = data.load_array((features, labels), 5, seed=0)
    passes = []
    for _ in range(2):
        batches = list(data_iter)
        assert [int(X.shape[0]) for X, _ in batches] == [5, 5, 5, 5, 3]
        X = np.concatenate([X.numpy()[:, 0] for X, _ in batches])
        y = np.concatenate([y.numpy() for _, y in batches])
        np.testing.assert_array_equal(np.sort(y), labels)
        np.testing.assert_array_equal(y, 2 * X.astype(np.int64))
        passes.append(y)
    assert not np.array_equal(passes[0], passes[1])


def test_load_array_keeps_order_when_not_training():
    """With is_train=False, is the original order kept?"""
    labels = np.arange(7)
    data_iter = data.load_array([labels], 3, is_train=False)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in data_iter]), labels)


def test_load_array_errors():
    """Are a bad batch size and mismatched arrays rejected with clear messages?"""
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        data.load_array((np.zeros(3),), 0)
    expected = "same first dimension. Received: data_arrays with first dimensions [3, 4]"
    with pytest.raises(ValueError, match=re.escape(expected)):
        data.load_array((np.zeros(3), np.zeros(4)), 2)
    with pytest.raises(TypeError, match="Received: data_arrays of type ndarray"):
        data.load_array(np.zeros(3), 2)


# ---------------------------------------------------------------------------
# synthetic_data

TRUE_W = np.array([2.0, -3.4])
TRUE_B = 4.2


def test_synthetic_data_shapes():
    """Are X (n, d) and y (n, 1) float32 tensors?"""
    X, y = data.synthetic_data(TRUE_W, TRUE_B, 6, seed=0)
    assert isinstance(X, tf.Tensor) and isinstance(y, tf.Tensor)
    assert X.dtype == tf.float32 and y.dtype == tf.float32
    assert tuple(X.shape) == (6, 2) and tuple(y.shape) == (6, 1)


def test_synthetic_data_moments():
    """Are X ~ N(0, 1) and y - (Xw + b) ~ N(0, 0.01^2), within sampling error?"""
    X, y = data.synthetic_data(TRUE_W, TRUE_B, NUM_SYNTHETIC, seed=0)
    X = X.numpy().astype(np.float64)
    noise = y.numpy()[:, 0].astype(np.float64) - (X @ TRUE_W + TRUE_B)
    n = NUM_SYNTHETIC
    # Standard errors: mean sigma/sqrt(n), standard deviation about sigma/sqrt(2n).
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=NUM_STANDARD_ERRORS / math.sqrt(n))
    np.testing.assert_allclose(X.std(axis=0), 1.0, atol=NUM_STANDARD_ERRORS / math.sqrt(2 * n))
    np.testing.assert_allclose(np.corrcoef(X.T)[0, 1], 0.0, atol=NUM_STANDARD_ERRORS / math.sqrt(n))
    std = data.SYNTHETIC_NOISE_STD
    np.testing.assert_allclose(noise.mean(), 0.0, atol=NUM_STANDARD_ERRORS * std / math.sqrt(n))
    np.testing.assert_allclose(noise.std(), std, atol=NUM_STANDARD_ERRORS * std / math.sqrt(2 * n))


def test_synthetic_data_least_squares_recovers_w_b():
    """Does least squares on (X, y) recover w = [2, -3.4], b = 4.2 within the noise?"""
    X, y = data.synthetic_data(TRUE_W, TRUE_B, NUM_SYNTHETIC, seed=1)
    design = np.hstack([X.numpy(), np.ones((NUM_SYNTHETIC, 1))]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, y.numpy().astype(np.float64)[:, 0], rcond=None)
    # Coefficient standard error is about noise_std / sqrt(n) for unit-variance X.
    atol = NUM_STANDARD_ERRORS * data.SYNTHETIC_NOISE_STD / math.sqrt(NUM_SYNTHETIC)
    np.testing.assert_allclose(coef, [*TRUE_W, TRUE_B], atol=atol)


def test_synthetic_data_seeding():
    """Does a seed reproduce the data, change it when changed, and leave the global seed alone?"""
    X1, y1 = data.synthetic_data(TRUE_W, TRUE_B, 50, seed=5)
    X2, y2 = data.synthetic_data(TRUE_W, TRUE_B, 50, seed=5)
    X3, _ = data.synthetic_data(TRUE_W, TRUE_B, 50, seed=6)
    assert_identical(X1, X2)
    assert_identical(y1, y2)
    assert not np.allclose(X1.numpy(), X3.numpy())

    tf.random.set_seed(0)
    expected = tf.random.normal((4,))
    tf.random.set_seed(0)
    data.synthetic_data(TRUE_W, TRUE_B, 50, seed=5)
    assert_identical(tf.random.normal((4,)), expected)


def test_synthetic_data_unseeded_follows_global_seed():
    """Without a seed, does tf.random.set_seed make the data reproducible?"""
    tf.random.set_seed(11)
    X1, _ = data.synthetic_data(TRUE_W, TRUE_B, 10)
    tf.random.set_seed(11)
    X2, _ = data.synthetic_data(TRUE_W, TRUE_B, 10)
    assert_identical(X1, X2)


def test_synthetic_data_errors():
    """Is a non-positive or non-integer num_examples rejected?"""
    expected = "`num_examples` must be a positive integer. Received: num_examples=0"
    with pytest.raises(ValueError, match=expected):
        data.synthetic_data(TRUE_W, TRUE_B, 0)
    with pytest.raises(TypeError, match="Received: num_examples=2.0"):
        data.synthetic_data(TRUE_W, TRUE_B, 2.0)


def test_public_names_exported():
    """Is every name of data.__all__ defined and exported from kerasdl?"""
    import kerasdl

    assert set(data.__all__) >= {
        "read_idx", "IDXFormatError", "DatasetNotFoundError", "load_fashion_mnist",
        "load_fashion_mnist_arrays", "FASHION_MNIST_LABELS", "get_fashion_mnist_labels",
        "load_array", "synthetic_data", "show_images", "fashion_mnist_search_path",
    }
    for name in data.__all__:
        assert getattr(kerasdl, name) is getattr(data, name)
    assert os.fspath(data.SYSTEM_DATA_DIR) == "/usr/share/datasets/fashion-mnist"
