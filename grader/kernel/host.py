"""The judge's host in the student's kernel: calls student code on request.

Under autograde the judge (`grader.judge`, a trusted process outside the
sandbox) opens a Jupyter comm with the target `TARGET` right after a graded
test cell ran, and sends requests as comm messages whose data is a small JSON
document and whose buffers hold arrays (`grader.wire`). Requests:

- ``lookup``: the value of a name in the notebook's namespace (the student's
  function, class or model factory), as data or as a handle;
- ``call``: call a handle, or a registered probe (`grader.probes`), on the
  judge's inputs, seeded like the self-check, inside the call watcher
  (`grader.integrity.CallWatcher`) with stderr silenced and a time budget;
  the reply carries the value, an exception's type and message, the
  watcher's finding, the time spent, and the state of inputs the judge
  asked to read back (variables a step updated);
- ``getattr``: an attribute of a handle;
- ``reset``: forget every object held for the judge.

This module is *untrusted by design*: the student can replace any of it, and
the judge treats each reply as the student's answer, never as ground truth.
It exists so that an honest notebook answers correctly and quickly.
"""

import itertools
import time
import traceback

from grader import wire

__all__ = ["TARGET", "Host", "serve"]

# The comm target name the judge opens.
TARGET = "kerasdl_judge"
# Characters of a student exception's message sent back.
MAX_MESSAGE_CHARS = 400
# Largest answer (buffers) sent to the judge; the same bound as the judge's
# `grader.judge.channel.MAX_REPLY_BYTES` (not imported: the host stays small).
MAX_REPLY_BYTES = 64 << 20


def _qualified(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


class Host:
    """Objects held for the judge, and the request handlers."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}
        self._ids = itertools.count(1)
        self.comm = None

    # Comm plumbing --------------------------------------------------------------

    def open(self, comm, _msg):
        self.comm = comm
        comm.on_msg(self.on_msg)

    def on_msg(self, msg):
        request = msg["content"]["data"]
        buffers = [bytes(b) for b in (msg.get("buffers") or [])]
        out_buffers = []
        try:
            reply = self.handle(request, buffers, out_buffers)
        except BaseException as error:  # noqa: BLE001 (reported to the judge)
            out_buffers = []
            reply = {"error": f"{type(error).__name__}: {error}"[:MAX_MESSAGE_CHARS],
                     "where": traceback.format_exc(limit=3)[-MAX_MESSAGE_CHARS:]}
        size = sum(len(b) for b in out_buffers)
        if size > MAX_REPLY_BYTES:
            # The judge's sockets drop messages this large: answer with an error
            # that fails the one case instead of a reply that never arrives.
            out_buffers = []
            reply = {"error": f"the answer is {size} bytes, over {MAX_REPLY_BYTES}"}
        self.comm.send(reply, buffers=out_buffers)

    # Requests ------------------------------------------------------------------

    def handle(self, request, buffers, out):
        op = request.get("op")
        if op == "lookup":
            value = self._lookup(request["name"])
            return {"value": self._encode(value, out)}
        if op == "call":
            return self._call(request, buffers, out)
        if op == "getattr":
            target = self.objects[request["target"]]
            value = getattr(target, request["name"])
            return {"value": self._encode(value, out)}
        if op == "reset":
            self.objects.clear()
            return {"ok": True}
        if op == "hello":
            return {"ok": True}
        raise ValueError(f"unknown request {op!r}")

    def _lookup(self, name):
        parts = name.split(".")
        value = self.namespace[parts[0]]
        for part in parts[1:]:
            value = getattr(value, part)
        return value

    def _call(self, request, buffers, out):
        from grader import probes
        from grader.integrity import CallWatcher
        from grader.sandbox import CaseTimeout, seed_everything, silenced, time_budget

        target = request["target"]
        if isinstance(target, str) and target.startswith("probe:"):
            function = probes.get(target[len("probe:"):])
        else:
            function = self.objects[target]
        args = self._decode(request.get("args", []), buffers)
        kwargs = self._decode(request.get("kwargs", {"$dict": {}}), buffers)
        reply = {"raised": None, "timeout": False, "reference_call": None}
        watcher = CallWatcher(request.get("reuses", ()))
        start = time.perf_counter()
        value = None
        try:
            with silenced(), time_budget(request.get("budget")):
                if request.get("seed") is not None:
                    seed_everything(request["seed"],
                                    reset_kernels=bool(request.get("reset_kernels", True)))
                with watcher:
                    value = function(*args, **kwargs)
        except CaseTimeout:
            reply["timeout"] = True
        except BaseException as error:  # noqa: BLE001 (the student's exception)
            reply["raised"] = {
                "type": type(error).__name__,
                "mro": [_qualified(cls) for cls in type(error).__mro__],
                "message": str(error)[:MAX_MESSAGE_CHARS],
            }
        reply["seconds"] = time.perf_counter() - start
        reply["reference_call"] = watcher.violation
        if reply["raised"] is None and not reply["timeout"]:
            reply["value"] = self._encode(value, out)
        reply["synced"] = {key: self._encode(self._state(self.objects[key]), out)
                           for key in request.get("sync", ())}
        return reply

    # Encoding ------------------------------------------------------------------

    def _handle(self, obj):
        key = next(self._ids)
        self.objects[key] = obj
        cls = type(obj)
        return {"$handle": key, "type": cls.__name__,
                "mro": [_qualified(c) for c in cls.__mro__],
                "name": str(getattr(obj, "__name__", ""))[:200]}

    def _encode(self, value, out):
        return wire.encode(value, out, handle=self._handle)

    @staticmethod
    def _state(obj):
        """What the judge reads back from an input it handed over."""
        import tensorflow as tf

        if isinstance(obj, tf.Variable):
            return obj
        return [variable.numpy() for variable in obj.variables]

    def _decode(self, tree, buffers):
        return wire.decode(tree, buffers, ref=lambda node: self.objects[node["$ref"]],
                           build=self._build)

    def _build(self, node, decode):
        """Construct an input the judge handed over (and keep it by its id)."""
        import keras
        import tensorflow as tf

        kind = node["$build"]
        if kind == "variable":
            value = decode(node["value"])
            obj = tf.Variable(value, trainable=bool(node.get("trainable", True)))
        elif kind == "keras":
            obj = keras.saving.deserialize_keras_object(node["config"])
            variables = decode(node.get("variables", []))
            if variables:
                if len(obj.variables) != len(variables):
                    raise ValueError("the judge's model has another number of variables")
                for variable, values in zip(obj.variables, variables):
                    variable.assign(values)
        elif kind == "dataset":
            elements = decode(node["elements"])
            obj = tf.data.Dataset.from_tensor_slices(elements).batch(int(node["batch_size"]))
        else:
            raise ValueError(f"unknown input kind {kind!r}")
        if node.get("id") is not None:
            self.objects[node["id"]] = obj
        return obj


_HOST = None


def serve():
    """Register the judge's comm target in this kernel (idempotent)."""
    global _HOST
    import comm
    from IPython import get_ipython

    if _HOST is None:
        _HOST = Host(get_ipython().user_ns)
        comm.get_comm_manager().register_target(TARGET, _HOST.open)
    return _HOST
