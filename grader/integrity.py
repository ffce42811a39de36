"""Integrity: a submission may not be, subclass or call the kerasdl reference.

Two layers of defence:

* a static look at the submitted object: the reference itself, a function
  whose code lives in the installed `kerasdl` package, a `functools.partial`
  or `tf.function` around one, a class with a kerasdl class in its MRO;
* `CallWatcher`, a `sys.settrace` hook active only while student code runs,
  which records the first call from outside `kerasdl` into a function defined
  in the `kerasdl` package whose top-level name is not in the exercise's
  declared `reuses`.

References are captured privately at registration; `reference_fingerprint`
records their code objects so a kernel that patched `kerasdl.softmax` or its
`__code__` is detected before grading.
"""

import inspect
import os
import sys
import threading

import kerasdl

__all__ = [
    "KERASDL_DIR",
    "CallWatcher",
    "static_violation",
    "reference_fingerprint",
    "fingerprint_intact",
]

KERASDL_DIR = os.path.join(os.path.dirname(os.path.realpath(kerasdl.__file__)), "")

_gettrace = sys.gettrace
_settrace = sys.settrace
_thread_gettrace = threading.gettrace
_thread_settrace = threading.settrace
_realpath = os.path.realpath
_inside_cache = {}


def _inside_kerasdl(filename):
    """Whether a code object's file lies in the installed kerasdl package."""
    inside = _inside_cache.get(filename)
    if inside is None:
        inside = _realpath(filename).startswith(KERASDL_DIR) if filename else False
        _inside_cache[filename] = inside
    return inside


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


def _code_file(obj):
    code = getattr(obj, "__code__", None)
    return getattr(code, "co_filename", None)


def _class_in_kerasdl(cls):
    """Whether a class was defined in kerasdl (by module or by method code)."""
    module = getattr(cls, "__module__", "") or ""
    if module == "kerasdl" or module.startswith("kerasdl."):
        return True
    for value in vars(cls).values():
        function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        filename = _code_file(function)
        if filename and _inside_kerasdl(filename):
            return True
    return False


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


class CallWatcher:
    """Record the first call from student code into a non-reused kerasdl function.

    Used as a context manager around each piece of student code. The hook
    only reads frames; it never raises, so the student's code runs unchanged.
    It is installed for the calling thread and for threads the student code
    starts; a submission that removes it (`sys.settrace(None)`) is recorded
    as a violation. Threads started before the check and graphs traced from
    the reference before the check are not seen.

    Args:
        reuses: names of kerasdl functions/classes the exercise may call.
    """

    def __init__(self, reuses=()):
        self.reuses = frozenset(reuses)
        self.violation = None
        # One bound-method object, compared by identity; a stack of the trace
        # functions to restore, since student code can nest (a model's layers
        # are built inside the student's own call).
        self._installed = self._hook
        self._previous = []

    def _hook(self, frame, event, arg):
        # A global trace function only sees "call" events (one per new or
        # resumed Python frame); returning None skips line tracing.
        code = frame.f_code
        inside = _inside_cache.get(code.co_filename)
        if inside is None:
            inside = _inside_kerasdl(code.co_filename)
        if not inside or self.violation is not None or code.co_name == "<module>":
            return None
        caller = frame.f_back
        if caller is not None and _inside_kerasdl(caller.f_code.co_filename):
            return None
        qualname = getattr(code, "co_qualname", code.co_name)
        if qualname.split(".")[0] not in self.reuses:
            self.violation = f"your code called kerasdl's {qualname}"
        return None

    def __enter__(self):
        self._previous.append((_gettrace(), _thread_gettrace()))
        _settrace(self._installed)
        _thread_settrace(self._installed)
        return self

    def __exit__(self, *exc_info):
        removed = (_gettrace() is not self._installed
                   or _thread_gettrace() is not self._installed)
        previous, previous_thread = self._previous.pop()
        _settrace(previous)
        _thread_settrace(previous_thread)
        if removed and self.violation is None:
            self.violation = "your code switched off the grader's call watcher (sys.settrace)"
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
