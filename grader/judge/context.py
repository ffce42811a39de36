"""`JudgeContext`: a case's context whose student side lives in the kernel.

A plugin's cases are written once, against `grader.cases.CaseContext`. In the
student's self-check they run in the kernel with the student's object at
hand. In the judge the same case code runs with a `JudgeContext`: the
reference, the seeded inputs, the expected values and every comparison stay
in the judge, and each touch of the student's code (`student`, `guard` of a
`RemoteObject`, `probe`) becomes one request to the kernel
(`grader.judge.channel`), seeded with the case's seed, watched for reference
calls, and bounded by the case's remaining time.
"""

import time

from grader import probes as probe_registry
from grader import wire
from grader.cases import CaseContext, StudentRaised
from grader.errors import CaseFailed, GraderError, PluginError
from grader.judge.channel import ChannelError, KernelUnresponsive
from grader.judge.remote import InputEncoder, RemoteError, RemoteObject
from grader.sandbox import CaseTimeout

__all__ = ["JudgeContext", "Findings"]

# Seconds the judge waits beyond a case's budget for the kernel's own timeout
# report, before it interrupts the kernel.
REPLY_MARGIN = 5.0


class Findings:
    """What the kernel reported during one exercise's cases; the running case.

    Remote objects of the exercise call through it (`call`, `getattr`), so a
    model built in one case and used in the next is called under the
    current case's seed and deadline.

    Attributes:
        violation: the first reference call the kernel's watcher reported
            (a signal: the student controls that watcher), or None.
        lost: why the kernel stopped answering, or None.
        context: the running case's `JudgeContext`, or None between cases.
    """

    def __init__(self):
        self.violation = None
        self.lost = None
        self.context = None

    def call(self, remote, args, kwargs):
        if self.context is None:
            raise GraderError("a remote object was called outside a case")
        return self.context.call(remote, args, kwargs)

    def getattr(self, remote, name):
        if self.context is None:
            raise GraderError("a remote object was read outside a case")
        return self.context.getattr(remote, name)


class JudgeContext(CaseContext):
    """`CaseContext` whose student calls are requests to the kernel.

    Args:
        channel: the open `KernelChannel`.
        student_object: the `RemoteObject` (or data) the test cell names.
        findings: the exercise's shared `Findings`.
        reuses: kerasdl names the student's code may call.
        ids: the kernel's input-id counter (`grader.judge.remote.id_counter`).
        budget: the case's time budget in seconds (None: `REPLY_MARGIN` only).
        **kwargs: the other arguments of `CaseContext` (seed, hidden, memo, ...).
    """

    def __init__(self, *, channel, findings, reuses, ids, budget, **kwargs):
        super().__init__(watcher=None, **kwargs)
        self._channel = channel
        self._findings = findings
        self._reuses = list(reuses)
        self._ids = ids
        self._deadline = None if budget is None else time.monotonic() + budget
        self._kernel_seed = None
        findings.context = self

    # Seeding --------------------------------------------------------------------

    def reseed(self):
        """Seed the judge and, with the next request, the kernel."""
        super().reseed()
        self._kernel_seed = self.seed

    # Calls into the kernel ------------------------------------------------------

    def student(self, *args, copy_inputs=True, **kwargs):
        """Call the student's object in the kernel on the judge's inputs, seeded."""
        self.reseed()
        return self._request(self.student_object, args, kwargs, sync=not copy_inputs)

    def guard(self, fn, *args, **kwargs):
        """Run student code: a `RemoteObject` (or a probe on one) in the kernel."""
        if isinstance(fn, RemoteObject) or probe_registry.name_of(fn):
            return self._request(fn, args, kwargs, sync=False)
        raise PluginError(
            f"the judge cannot run {getattr(fn, '__qualname__', fn)!r} as student code: "
            "call the student's object or a registered probe (grader.probes)")

    def probe(self, fn, *args, **kwargs):
        """Run the registered probe `fn` in the kernel (on the student's objects)."""
        if not probe_registry.name_of(fn):
            raise PluginError(f"{getattr(fn, '__qualname__', fn)!r} is not a registered probe")
        return self._request(fn, args, kwargs, sync=False)

    def call(self, remote, args, kwargs):
        """`RemoteObject.__call__`: a watched call in the kernel."""
        return self._request(remote, args, kwargs, sync=False)

    def getattr(self, remote, name):
        """`RemoteObject.__getattr__`: an attribute read in the kernel."""
        reply, buffers = self._send({"op": "getattr", "target": remote.key, "name": name},
                                    [], self._remaining())
        return self._decode(reply.get("value"), buffers)

    def _remaining(self):
        if self._deadline is None:
            return None
        return max(0.05, self._deadline - time.monotonic())

    def _request(self, fn, args, kwargs, *, sync):
        if self._findings.lost:
            raise StudentRaised(RemoteError("KernelLost", self._findings.lost))
        target = fn.key if isinstance(fn, RemoteObject) else f"probe:{probe_registry.name_of(fn)}"
        encoder = InputEncoder(self._ids)
        budget = self._remaining()
        request = {
            "op": "call", "target": target,
            "args": encoder.encode(list(args)), "kwargs": encoder.encode(dict(kwargs)),
            "seed": self._kernel_seed, "reset_kernels": self._reset_kernels,
            "reuses": self._reuses, "budget": budget,
            "sync": list(encoder.sync) if sync else [],
        }
        self._kernel_seed = None
        start = time.perf_counter()
        try:
            reply, buffers = self._send(request, encoder.buffers, budget)
        finally:
            self.student_seconds += time.perf_counter() - start
        if reply.get("reference_call") and self._findings.violation is None:
            self._findings.violation = str(reply["reference_call"])[:300]
        if reply.get("timeout"):
            raise CaseTimeout()
        raised = reply.get("raised")
        if raised:
            raise StudentRaised(RemoteError(str(raised.get("type", "Exception"))[:100],
                                            str(raised.get("message", ""))[:400],
                                            raised.get("mro") or ()))
        value = self._decode(reply.get("value"), buffers)
        if sync:
            try:
                encoder.apply_synced(reply.get("synced") or {}, buffers)
            except wire.WireError as error:
                raise CaseFailed(f"your code left the inputs unreadable: {error}") from None
        return value

    def _send(self, request, buffers, budget):
        timeout = (budget if budget is not None else 0.0) + REPLY_MARGIN
        try:
            return self._channel.request(request, buffers, timeout=timeout)
        except KernelUnresponsive as error:
            self._findings.lost = str(error)
            raise StudentRaised(RemoteError("KernelLost", str(error))) from None
        except (ChannelError, wire.WireError) as error:
            raise CaseFailed(f"the kernel's answer could not be read: {error}") from None

    def _decode(self, tree, buffers):
        try:
            return wire.decode(tree, buffers, handle=lambda entry: RemoteObject(entry, self._findings))
        except wire.WireError as error:
            raise CaseFailed(f"your answer could not be read: {error}") from None
