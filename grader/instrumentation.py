"""Instrumentation: kerasdl's functions report their own calls to `CallWatcher`.

Trust: like `grader.integrity`, this runs inside the student's interpreter
and decides no recorded grade.

The watcher sees kerasdl calls through a probe: when this module is imported,
every kerasdl function (module functions, methods, lambdas, and the nested
functions they create) gets a copy of its code compiled from the same source
with one added first statement, a call of `_probe`. The probe costs a few
hundred nanoseconds per kerasdl call and nothing elsewhere, so student code
runs at full speed. Where that is impossible (kerasdl's source changed since
it was imported, or is not on disk), the watcher falls back to a `sys.settrace`
hook on every Python call, which gives the same verdicts 1.4-1.6x slower.
kerasdl functions are also marked as AutoGraph artifacts, so a `tf.function`
around a reference call runs the reference's own (probed) code instead of an
AutoGraph transcription of its source that no watcher would see.
"""

import ast
import gc
import importlib
import inspect
import itertools
import operator
import os
import pkgutil
import sys
import threading
import types

import kerasdl

__all__ = ["KERASDL_DIR", "PROBE_NAME", "instrumentation", "kerasdl_modified"]

KERASDL_DIR = os.path.join(os.path.dirname(os.path.realpath(kerasdl.__file__)), "")

_gettrace = sys.gettrace
_settrace = sys.settrace
_getframe = sys._getframe
_get_ident = threading.get_ident
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


# --------------------------------------------------------------------------
# The probe: kerasdl functions report their own calls
# --------------------------------------------------------------------------

# Global name of the probe in every kerasdl module's namespace.
PROBE_NAME = "__kerasdl_probe__"
# The attribute AutoGraph looks for to call a function as it is instead of
# transcribing its source (`tensorflow.python.autograph.impl.api`).
_AUTOGRAPH_MARK = "autograph_info__"
# Watchers currently active, innermost last (`CallWatcher.__enter__`).
_ACTIVE = []
# ids of every probed code object (kept alive by `_Instrumentation.twins`).
_PROBED_CODES = set()


def _probe():
    """First statement of every instrumented kerasdl function (see module doc)."""
    if not _ACTIVE:
        return
    watcher = _ACTIVE[-1]
    if watcher.violation is not None or _get_ident() not in watcher.threads:
        return
    frame = _getframe(1)  # the kerasdl function that was called
    caller = frame.f_back
    # A call from kerasdl's own probed code, running in kerasdl's namespace,
    # is internal; code merely compiled under a kerasdl file name, or kerasdl
    # code run with other globals (a no-op probe), is not.
    if (caller is not None and id(caller.f_code) in _PROBED_CODES
            and caller.f_globals.get(PROBE_NAME) is _probe):
        return
    watcher.record(frame.f_code)


class _AddProbe(ast.NodeTransformer):
    """Make `_probe()` the first statement (after the docstring) of every function."""

    @staticmethod
    def _call(node):
        return ast.copy_location(
            ast.Call(func=ast.Name(id=PROBE_NAME, ctx=ast.Load()), args=[], keywords=[]),
            node)

    def _function(self, node):
        self.generic_visit(node)
        first = node.body[0]
        has_docstring = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                         and isinstance(first.value.value, str))
        node.body.insert(1 if has_docstring else 0,
                         ast.copy_location(ast.Expr(self._call(first)), first))
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node):
        # `lambda x: body` becomes `lambda x: _probe() or body` (the probe returns None).
        self.generic_visit(node)
        node.body = ast.copy_location(
            ast.BoolOp(op=ast.Or(), values=[self._call(node.body), node.body]), node.body)
        return node


def _nested_codes(code):
    return [c for c in code.co_consts if isinstance(c, types.CodeType)]


def _pair_codes(original, instrumented, pairs):
    """Map each code object nested in `original` to its twin in `instrumented`."""
    inner, twins = _nested_codes(original), _nested_codes(instrumented)
    if len(inner) != len(twins):
        raise ValueError(f"instrumenting changed the functions of {original.co_qualname}")
    for a, b in zip(inner, twins):
        if (a.co_qualname, a.co_firstlineno, a.co_freevars) != \
                (b.co_qualname, b.co_firstlineno, b.co_freevars):
            raise ValueError(f"instrumenting changed {a.co_qualname}")
        pairs[a] = b
        _pair_codes(a, b, pairs)


def _instrumented_twins(module):
    """Return `{original code: probed code}` for every function of a kerasdl module.

    Both are compiled from the module's source file as the import system
    compiles it, so an original code object compares equal to the code of
    the module's live functions unless the file changed since the import.
    """
    filename = module.__file__
    with open(filename, "rb") as file:
        source = file.read()
    tree = ast.parse(source, filename)
    original = compile(tree, filename, "exec", dont_inherit=True)
    probed = compile(ast.fix_missing_locations(_AddProbe().visit(tree)), filename, "exec",
                     dont_inherit=True)
    pairs = {}
    _pair_codes(original, probed, pairs)
    return pairs


def _kerasdl_modules():
    """Import and return every module of the kerasdl package."""
    names = [kerasdl.__name__] + [
        info.name for info in pkgutil.walk_packages(kerasdl.__path__, kerasdl.__name__ + ".")
        if not info.name.endswith(".__main__")
    ]
    return [importlib.import_module(name) for name in names]


def _is_kerasdl_function(value):
    return type(value) is types.FunctionType and _inside_kerasdl(value.__code__.co_filename)


def _module_bindings(modules):
    """`(namespace, name, object)` for the kerasdl functions and classes kerasdl binds.

    Namespaces are the modules' and their kerasdl classes' `__dict__`s
    (functions only for classes; static and class methods and property
    accessors included). A package's re-exports are left out: no kerasdl
    code looks names up there, so a student may rebind `kerasdl.relu`.
    """
    found = []

    def add(namespace, name, value):
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                add(namespace, name, accessor)
            return
        if _is_kerasdl_function(value):
            found.append((namespace, name, value))

    for module in modules:
        package = hasattr(module, "__path__")
        for name, value in list(vars(module).items()):
            if package and getattr(value, "__module__", None) != module.__name__:
                continue
            if inspect.isclass(value) and _class_in_kerasdl(value):
                found.append((vars(module), name, value))
                for member_name, member in list(vars(value).items()):
                    if not isinstance(member, property):
                        add(vars(value), member_name, member)
            else:
                add(vars(module), name, value)
    return found


def _bound(namespace, name):
    """The object a namespace binds to `name` (through static/class methods)."""
    value = namespace.get(name)
    return value.__func__ if isinstance(value, (staticmethod, classmethod)) else value


def _unchanged_since(functions, bindings):
    """A function telling whether `functions` (`(function, code)` pairs) still
    run their code and carry the autograph mark, and the namespaces of
    `bindings` still hold the very objects they hold now (static and class
    method wrappers included), each compared in C."""
    objects = tuple(function for function, _ in functions)
    codes = tuple(code for _, code in functions)
    groups = {}
    for namespace, name, _ in bindings:
        groups.setdefault(id(namespace), (namespace, []))[1].append(name)
    held = [(namespace, tuple(names), tuple(map(namespace.get, names)))
            for namespace, names in groups.values()]
    code_of = operator.attrgetter("__code__")

    def unchanged():
        return (all(map(operator.is_, map(code_of, objects), codes))
                and all(map(hasattr, objects, itertools.repeat(_AUTOGRAPH_MARK)))
                and all(all(map(operator.is_, map(namespace.get, names), values))
                        for namespace, names, values in held))

    return unchanged


class _Instrumentation:
    """The probed state of the kerasdl package, and checks that it is intact.

    Attributes:
        complete: every kerasdl function found runs probed code (else the
            watcher uses `sys.settrace`).
        problem: why instrumentation is incomplete, or None.
        twins: original code object -> probed code object, for every
            function of every kerasdl module (compiled once per process).
        probed: ids of the probed code objects.
        functions: `(function, probed code)` for every function probed.
        bindings: `(namespace, name, object)` that kerasdl's modules and
            classes bind (see `_module_bindings`).
    """

    def __init__(self):
        self.complete = False
        self.problem = None
        self.modules = []
        self.twins = {}
        self.probed = _PROBED_CODES
        self.functions = []
        self.bindings = []
        self._unchanged = None  # see `tampering`

    def install(self, scan_all=True):
        """Probe kerasdl's functions: all live ones (found through `gc`) if
        `scan_all`, else those kerasdl's modules and classes bind."""
        try:
            modules = _kerasdl_modules()
            for module in modules:
                if module not in self.modules:
                    self.twins.update(_instrumented_twins(module))
                    self.modules.append(module)
                vars(module)[PROBE_NAME] = _probe
        except (OSError, SyntaxError, ValueError, ImportError, TypeError) as error:
            self.complete, self.problem = False, f"{type(error).__name__}: {error}"
            return self
        self.probed.update(id(code) for code in self.twins.values())
        bindings = _module_bindings(self.modules)
        candidates = ([obj for obj in gc.get_objects() if type(obj) is types.FunctionType]
                      if scan_all else [value for _, _, value in bindings])
        known = {id(function) for function, _ in self.functions}
        unmatched = []
        for function in candidates:
            if not _is_kerasdl_function(function):
                continue
            code = function.__code__
            if id(code) not in self.probed:
                twin = self.twins.get(code)
                if twin is None or twin.co_freevars != code.co_freevars:
                    unmatched.append(code.co_qualname)
                    continue
                function.__code__ = twin
            setattr(function, _AUTOGRAPH_MARK, None)
            if id(function) not in known:
                known.add(id(function))
                self.functions.append((function, function.__code__))
        self.bindings = bindings
        self._unchanged = None
        if self.tampering() is None:
            self._unchanged = _unchanged_since(self.functions, bindings)
        self.complete = not unmatched
        self.problem = (f"kerasdl changed since it was imported ({', '.join(unmatched[:3])})"
                        if unmatched else None)
        return self

    def _genuine(self, value):
        """Whether `value` is kerasdl's own code (probed, or as a reload made it)."""
        if inspect.isclass(value) and _class_in_kerasdl(value):
            members = [v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
                       for v in vars(value).values()]
            # Methods a decorator generates (a dataclass's __init__, __repr__,
            # __eq__) are not kerasdl's code, but a reloaded dataclass has them.
            functions = [f for f in members if _is_kerasdl_function(f)]
        elif _is_kerasdl_function(value):
            functions = [value]
        else:
            return False
        return all(id(f.__code__) in self.probed or f.__code__ in self.twins
                   for f in functions)

    def tampering(self):
        """Why kerasdl's probed code is no longer in place, or None.

        Cheap enough to run after every piece of student code: compares the
        probe's bindings, the probed code of every recorded function and the
        functions and classes kerasdl's modules and classes bind (a reload
        rebinds them). When every function and binding is still what an
        intact `install` left, which one comparison in C tells, the loops over
        them are skipped.
        """
        for module in self.modules:
            if vars(module).get(PROBE_NAME) is not _probe:
                return f"your code replaced {module.__name__}.{PROBE_NAME}"
        if _probe.__code__ is not _PROBE_CODE:
            return "your code replaced the grader's probe"
        if self._unchanged is not None and self._unchanged():
            return None
        for function, code in self.functions:
            if function.__code__ is not code or not hasattr(function, _AUTOGRAPH_MARK):
                return f"your code modified kerasdl's {code.co_qualname}"
        for namespace, name, value in self.bindings:
            if _bound(namespace, name) is not value:
                return f"your code replaced or reloaded kerasdl's {value.__qualname__}"
        return None

    def refresh(self):
        """Before a check: probe what a reload created; return why kerasdl was
        modified in this kernel (its references may have changed), or None."""
        for function, code in self.functions:
            if function.__code__ is not code:
                return f"kerasdl's {code.co_qualname} was modified"
        for namespace, name, value in self.bindings:
            current = _bound(namespace, name)
            if current is not value and not self._genuine(current):
                return f"kerasdl's {name} was replaced"
        if self.tampering() is not None or any(
                _is_kerasdl_function(value) and id(value.__code__) not in self.probed
                for _, _, value in _module_bindings(self.modules)):
            self.install(scan_all=False)
        return None


_PROBE_CODE = _probe.__code__
_INSTRUMENTATION = _Instrumentation().install()


def instrumentation():
    """The kerasdl instrumentation (probes re-installed after a reload)."""
    _INSTRUMENTATION.refresh()
    return _INSTRUMENTATION


def kerasdl_modified():
    """Why kerasdl was modified in this kernel (before a check), or None.

    A replaced kerasdl function, class or code object could change what the
    references compute; a reloaded module is probed again and is not a
    modification.
    """
    return _INSTRUMENTATION.refresh()
