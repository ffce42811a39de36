"""Remote objects: the judge's handles to objects that live in the kernel.

The judge never holds a student's object. What the kernel returns that is not
data (a function, a model, a generator) arrives as a ``{"$handle": ...}``
entry and becomes a `RemoteObject`: the judge can call it, read an
attribute, pass it back, or run a probe on it (`grader.probes`), each a
request over the channel run by `JudgeContext` (watched, timed, seeded).
Its type's name and MRO names are the kernel's claim, used for messages
and for `is_instance`, never for a verdict on values.

The judge's own inputs travel the other way: arrays and tensors as data,
`tf.Variable`s, Keras models, layers, losses and optimizers, and
`tf.data` datasets of batches as ``{"$build": ...}`` entries that the kernel
constructs (`InputEncoder`). Inputs the kernel must hand back after the call
(a variable `sgd` updates, a net `train_step` trains) are read back by id.
"""

import itertools

import numpy as np

from grader import wire

__all__ = ["RemoteObject", "RemoteError", "InputEncoder", "qualified_name", "is_instance"]


def qualified_name(cls):
    """``module.qualname`` of a class, as the kernel reports MRO entries."""
    return f"{cls.__module__}.{cls.__qualname__}"


class RemoteObject:
    """A handle to an object in the student's kernel.

    Attributes:
        key: the kernel's handle number.
        type_name: the object's class name (the kernel's claim).
        mro: qualified names of its class's MRO (the kernel's claim).
        name: its ``__name__`` if it has one.
    """

    def __init__(self, entry, caller):
        self.key = int(entry["$handle"])
        self.type_name = str(entry.get("type", "object"))[:200]
        mro = entry.get("mro", [])
        self.mro = tuple(str(name)[:300] for name in mro[:64]) if isinstance(mro, list) else ()
        self.name = str(entry.get("name", ""))[:200]
        self._caller = caller

    def __call__(self, *args, **kwargs):
        return self._caller.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._caller.getattr(self, name)

    def __iter__(self):
        raise TypeError("iterate a remote object with the `take` probe")

    def __bool__(self):
        return True

    def __repr__(self):
        return f"<remote {self.type_name}>"


def is_instance(obj, cls):
    """`isinstance` for local objects; the MRO claim for a `RemoteObject`."""
    if isinstance(obj, RemoteObject):
        return qualified_name(cls) in obj.mro
    return isinstance(obj, cls)


class RemoteError(Exception):
    """An exception the student's code raised in the kernel (its type name and message).

    Attributes:
        type_name: the exception's class name.
        mro: qualified names of its class's MRO.
    """

    def __init__(self, type_name, message, mro=()):
        super().__init__(message)
        self.type_name = type_name
        self.mro = tuple(mro)

    def is_a(self, cls):
        """Whether the student's exception is an instance of `cls` (by its MRO claim)."""
        return qualified_name(cls) in self.mro


class InputEncoder:
    """Encodes the judge's inputs of one request; remembers what to read back.

    Args:
        ids: the job's counter of input ids (shared, so ids stay unique per kernel).
    """

    def __init__(self, ids):
        self._ids = ids
        self.buffers = []
        self.sync = {}  # kernel id -> the judge's object to update after the call

    def encode(self, value):
        return wire.encode(value, self.buffers, build=self._build)

    def _new_id(self, obj):
        key = f"in{next(self._ids)}"
        self.sync[key] = obj
        return key

    def _build(self, value):
        if isinstance(value, RemoteObject):
            return {"$ref": value.key}
        import sys

        tf = sys.modules.get("tensorflow")
        keras = sys.modules.get("keras")
        if tf is not None and isinstance(value, tf.Variable):
            return {"$build": "variable", "id": self._new_id(value),
                    "value": self.encode(np.asarray(value.numpy())),
                    "trainable": bool(value.trainable)}
        if keras is not None and isinstance(value, (keras.layers.Layer, keras.losses.Loss,
                                                    keras.optimizers.Optimizer)):
            return self._keras(value, keras)
        if tf is not None and isinstance(value, tf.data.Dataset):
            return self._dataset(value)
        return None

    def _keras(self, value, keras):
        entry = {"$build": "keras", "config": keras.saving.serialize_keras_object(value)}
        if isinstance(value, keras.layers.Layer):
            entry["id"] = self._new_id(value)
            entry["variables"] = [self.encode(np.asarray(v.numpy())) for v in value.variables]
        return entry

    def _dataset(self, dataset):
        """A dataset of (X, y) batches, rebuilt as `from_tensor_slices(...).batch(n)`."""
        batches = [tuple(np.asarray(part) for part in batch) for batch in dataset]
        sizes = [len(batch[0]) for batch in batches]
        if not batches or any(size != sizes[0] for size in sizes[:-1]) or sizes[-1] > sizes[0]:
            raise wire.WireError("only datasets of equal batches (and a smaller last one) "
                                 "can be sent to the kernel")
        elements = tuple(np.concatenate([batch[i] for batch in batches])
                         for i in range(len(batches[0])))
        return {"$build": "dataset", "elements": self.encode(elements),
                "batch_size": sizes[0]}

    def apply_synced(self, synced, buffers):
        """Write the kernel's read-back state into the judge's input objects."""
        for key, obj in self.sync.items():
            if key not in synced:
                continue
            state = wire.decode(synced[key], buffers, tensors=False)
            _assign_state(obj, state)


def _assign_state(obj, state):
    import tensorflow as tf

    if isinstance(obj, tf.Variable):
        array = np.asarray(state)
        if array.shape != tuple(obj.shape):
            raise wire.WireError(f"a variable came back with shape {array.shape}, "
                                 f"expected {tuple(obj.shape)}")
        obj.assign(array.astype(obj.dtype.as_numpy_dtype))
        return
    variables = list(obj.variables)
    if not isinstance(state, list) or len(state) != len(variables):
        raise wire.WireError("a model came back with another number of variables")
    for variable, value in zip(variables, state):
        array = np.asarray(value)
        if array.shape != tuple(variable.shape):
            raise wire.WireError("a model's variable came back with another shape")
        variable.assign(array.astype(variable.dtype))


def id_counter():
    """A fresh counter of input ids (one per kernel)."""
    return itertools.count(1)
