"""Integrity: a submission may not be, subclass or call the kerasdl reference.

Trust: everything here runs inside the student's own interpreter, among
objects the student can replace, so none of it decides a recorded grade.
Under `kerasdl-grade autograde` the judge (`grader.judge`) grades outside the
kernel and reads the notebook's source for reference use
(`grader.judge.source`); the kernel-side call watcher is only a signal it
adds to that. For the student's own `grader.check`, these guards are a
deterrent that keeps an honest self-check honest (a stray reference call or
a patched NumPy scores 0 with a reason), not a security boundary.

Two layers:

* a static look at the submitted object: the reference itself, a function
  whose code lives in the installed `kerasdl` package, a `functools.partial`
  or `tf.function` around one, a class with a kerasdl class in its MRO;
* `CallWatcher`, active only while student code runs, which records the
  first call from outside `kerasdl` into a function defined in the `kerasdl`
  package whose top-level name is not in the exercise's declared `reuses`.

The watcher sees kerasdl calls through probes that kerasdl's own functions
call (`grader.instrumentation`).

References are captured privately at registration; `reference_fingerprint`
records their code objects so a kernel that patched `kerasdl.softmax` or its
`__code__` is detected before grading.

Not detected: kerasdl code copied out of the package (its source text, a
model's config, an AutoGraph transcription from `tf.autograph.to_graph`, or
its code objects run with forged globals, unless that code then calls another
kerasdl function), threads started before the check, graphs traced from the
reference before the check, a kerasdl generator started before the check and
resumed by the submission, and a submission that edits the grader's own
state (the active watchers) and restores it before it returns.
"""

import inspect

from grader.instrumentation import (  # noqa: F401 (re-exported: the runner, the tests)
    _ACTIVE,
    _INSTRUMENTATION,
    KERASDL_DIR,
    PROBE_NAME,
    _class_in_kerasdl,
    _code_file,
    _get_ident,
    _gettrace,
    _inside_cache,
    _inside_kerasdl,
    _kerasdl_modules,
    _module_bindings,
    _settrace,
    _thread_gettrace,
    _thread_settrace,
    instrumentation,
    kerasdl_modified,
)

__all__ = [
    "KERASDL_DIR",
    "CallWatcher",
    "static_violation",
    "reference_fingerprint",
    "fingerprint_intact",
]



# Wrapping attributes followed by `_unwrap`, and how deep it follows them.
_WRAPPER_ATTRIBUTES = ("__wrapped__", "__func__", "python_function", "func")
_MAX_UNWRAP = 16


def _unwrap(obj):
    """Return `obj` and the objects it wraps (partials, tf.functions, methods)."""
    found = []
    stack = [obj]
    while stack and len(found) < _MAX_UNWRAP:
        item = stack.pop()
        if any(item is seen for seen in found):
            continue
        found.append(item)
        for attr in _WRAPPER_ATTRIBUTES:
            try:
                inner = getattr(item, attr, None)
            except Exception:  # a hostile __getattr__
                inner = None
            if callable(inner):
                stack.append(inner)
    return found


def static_violation(obj, reference):
    """Return why `obj` is (or wraps, or subclasses) kerasdl code, or None.

    Args:
        obj: the submitted function, class or object.
        reference: the exercise's reference.

    Returns:
        A message for the student, or None when nothing was found.
    """
    for item in _unwrap(obj):
        if item is reference:
            return "you submitted the kerasdl reference itself"
        if inspect.isclass(item):
            for base in item.__mro__:
                if base is reference or _class_in_kerasdl(base):
                    return f"your class derives from kerasdl's {base.__qualname__}"
            continue
        filename = _code_file(item)
        if filename and _inside_kerasdl(filename):
            name = getattr(item, "__qualname__", type(item).__name__)
            return f"your function is kerasdl's {name}"
    return None



# --------------------------------------------------------------------------
# The watcher
# --------------------------------------------------------------------------


class CallWatcher:
    """Record the first call from student code into a non-reused kerasdl function.

    Used as a context manager around each piece of student code; entering it
    again while active (student code nested in student code) is allowed. It
    only reads frames and never raises, so the student's code runs unchanged.
    It watches the calling thread and the threads the student code starts;
    a submission that switches it off, or replaces kerasdl's probed code, is
    recorded as a violation. See the module docstring for what it cannot see.

    Args:
        reuses: names of kerasdl functions/classes the exercise may call.

    Attributes:
        mode: "probe" (kerasdl's instrumented code reports its calls) or
            "trace" (a `sys.settrace` hook, when instrumentation is incomplete).
        violation: the first violation's message, or None.
        threads: identifiers of the watched threads (probe mode).
    """

    def __init__(self, reuses=()):
        self.reuses = frozenset(reuses)
        self.violation = None
        self._instrumentation = _INSTRUMENTATION
        self.mode = "probe" if self._instrumentation.complete else "trace"
        self.threads = set()
        # One bound-method object, compared by identity; a stack of the trace
        # functions to restore, since student code can nest (a model's layers
        # are built inside the student's own call).
        self._installed = self._hook if self.mode == "trace" else self._adopt_thread
        self._previous = []

    def record(self, code):
        """Record a call of kerasdl's `code` from outside kerasdl, unless reused."""
        qualname = code.co_qualname
        if self.violation is None and qualname.split(".")[0] not in self.reuses:
            self.violation = f"your code called kerasdl's {qualname}"

    def _adopt_thread(self, frame, event, arg):
        # Probe mode: the first call in a thread the student code started
        # adds the thread to the watched ones, then stops tracing it.
        self.threads.add(_get_ident())
        _settrace(None)
        return None

    def _hook(self, frame, event, arg):
        # Trace mode. A global trace function only sees "call" events (one per
        # new or resumed Python frame); returning None skips line tracing.
        code = frame.f_code
        inside = _inside_cache.get(code.co_filename)
        if inside is None:
            inside = _inside_kerasdl(code.co_filename)
        if not inside or self.violation is not None or code.co_name == "<module>":
            return None
        caller = frame.f_back
        if caller is not None and _inside_kerasdl(caller.f_code.co_filename):
            return None
        self.record(code)
        return None

    def __enter__(self):
        if self.mode == "probe":
            self.threads.add(_get_ident())
            _ACTIVE.append(self)
            self._previous.append((None, _thread_gettrace()))
        else:
            self._previous.append((_gettrace(), _thread_gettrace()))
            _settrace(self._installed)
        _thread_settrace(self._installed)
        return self

    def __exit__(self, *exc_info):
        previous, previous_thread = self._previous.pop()
        removed = _thread_gettrace() is not self._installed
        if self.mode == "probe":
            removed = removed or not _ACTIVE or _ACTIVE[-1] is not self
            if _ACTIVE and _ACTIVE[-1] is self:
                _ACTIVE.pop()
            elif self in _ACTIVE:
                _ACTIVE.remove(self)
            if self.violation is None:
                self.violation = self._instrumentation.tampering()
        else:
            removed = removed or _gettrace() is not self._installed
            _settrace(previous)
        _thread_settrace(previous_thread)
        if removed and self.violation is None:
            self.violation = "your code switched off the grader's call watcher"
        return False


def reference_fingerprint(reference):
    """Return the code objects a reference is made of (to detect patching)."""
    codes = []
    if inspect.isclass(reference):
        for value in vars(reference).values():
            code = getattr(value, "__code__", None)
            if code is not None:
                codes.append((value, code))
    else:
        code = getattr(reference, "__code__", None)
        if code is not None:
            codes.append((reference, code))
    return tuple(codes)


def fingerprint_intact(fingerprint):
    """Whether every recorded function still has its recorded code object."""
    return all(function.__code__ is code for function, code in fingerprint)
