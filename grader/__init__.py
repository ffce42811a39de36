"""grader: check a student's function, layer or model against the kerasdl reference.

In an nbgrader test cell::

    grader.check("softmax", softmax)

runs the exercise's seeded cases on the student's object beside the kerasdl
reference, prints one feedback line per case (an HTML table in a notebook) and
returns a `Score`, a float in `[0, points]` that nbgrader takes as the cell's
partial credit. Hidden cases run under `NBGRADER_EXECUTION=autograde` or with
`hidden=True`. Writing new checks: see `grader/README.md`. The course
notebooks also use `grader.quiet_tensorflow()` (a first cell without
TensorFlow's C++ start-up lines) and `grader.done(obj)` (run a demonstration
only once its exercise is written); see `grader.notebook`.

`import grader` is light: it does not import TensorFlow. The public names are
resolved on first use (PEP 562), so `kerasdl-grade --help` and the nbgrader
processes of `kerasdl-grade` start quickly.
"""

import importlib as _importlib
import operator as _operator
import os as _os
import sys as _sys
import types as _types

from grader._lazy import lazy_exports as _lazy_exports

# TensorFlow's C++ INFO/WARNING lines go to stderr, which nbgrader scores as an
# error; and its oneDNN CPU kernels are much faster on the course's machines.
# Both only take effect if set before TensorFlow loads (as `kerasdl` does).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__all__ = [
    "check",
    "exercises",
    "points",
    "done",
    "quiet_tensorflow",
    "exercise",
    "Score",
    "CaseResult",
    "CaseBuilder",
    "CaseContext",
    "CaseFailed",
    "Comparison",
    "Normal",
    "Uniform",
    "Tolerance",
    "FLOAT16",
    "FLOAT32",
    "FLOAT64",
    "tolerance_for",
    "Exercise",
    "Registry",
    "ENTRY_POINT_GROUP",
    "GraderError",
    "PluginError",
    "ReferenceFailedError",
    "UnknownExerciseError",
]

# Public name -> the submodule defining it, imported on first access.
_LAZY_EXPORTS = {
    "CaseBuilder": "grader.builder",
    "CaseContext": "grader.cases",
    "Comparison": "grader.compare",
    "Normal": "grader.compare",
    "Uniform": "grader.compare",
    "CaseFailed": "grader.errors",
    "GraderError": "grader.errors",
    "PluginError": "grader.errors",
    "ReferenceFailedError": "grader.errors",
    "UnknownExerciseError": "grader.errors",
    "ENTRY_POINT_GROUP": "grader.registry",
    "Exercise": "grader.registry",
    "Registry": "grader.registry",
    "default_registry": "grader.registry",
    "exercise": "grader.registry",
    "CaseResult": "grader.results",
    "Score": "grader.results",
    "FLOAT16": "grader.tolerances",
    "FLOAT32": "grader.tolerances",
    "FLOAT64": "grader.tolerances",
    "Tolerance": "grader.tolerances",
    "tolerance_for": "grader.tolerances",
    "done": "grader.notebook",
    "quiet_tensorflow": "grader.notebook",
}


__getattr__, __dir__ = _lazy_exports("grader", _LAZY_EXPORTS, globals())


# --------------------------------------------------------------------------
# Integrity: the grader's own functions, recorded when they are imported.
# A deterrent for the self-check only: the student's kernel can undo any of
# it, which is why autograde's recorded score comes from the judge outside
# the kernel (`grader.judge`), never from `check` below.
# --------------------------------------------------------------------------

# Grader modules whose functions and classes are recorded when they are
# imported: a notebook that replaces one of them (to force a pass) scores 0.
_GUARDED_MODULES = (
    "grader.compare",
    "grader.runner",
    "grader.sandbox",
    "grader.integrity",
    "grader.cases",
)
# Modules whose objects `check` uses as they were at import, not as the
# kernel may have replaced them since.
_PINNED_MODULES = _GUARDED_MODULES + ("grader.feedback", "grader.registry")
# Third-party namespaces whose functions the checks and the references use:
# replacing one (`np.allclose = lambda *a, **k: True`, `tf.maximum = ...`)
# is detected and scores 0. Top-level module -> attribute paths below it ("" is
# the module itself); every callable found there (not classes or modules,
# which TensorFlow loads lazily) is recorded when the module loads.
_GUARDED_NAMESPACES = {
    "numpy": ("", "linalg", "testing"),
    "tensorflow": ("", "math", "nn", "linalg"),
    "keras": ("ops", "activations"),
}

_ORIGINALS = {}  # pinned module name -> copy of its namespace at import
# What `_tampered` compares with, after every piece of student code: a list of
# `(namespace, names, objects)`, the recorded objects of each namespace
# (grader modules in `_SNAPSHOT`, third-party ones in `_LIBRARY_SNAPSHOT`).
_SNAPSHOT = []
_LIBRARY_SNAPSHOT = []
_UNRECORDED = set()  # watched modules not imported yet


def _recorded(namespace, keep):
    """`(namespace, names, objects)` of the attributes of `namespace` that `keep`."""
    items = [(name, value) for name, value in vars(namespace).items() if keep(value)]
    return namespace, tuple(name for name, _ in items), tuple(value for _, value in items)


def _record(module):
    """Record a pinned, guarded or NumPy module right after it was executed."""
    name = module.__name__
    _UNRECORDED.discard(name)
    if name in _PINNED_MODULES:
        _ORIGINALS[name] = dict(vars(module))
    if name in _GUARDED_MODULES:
        _SNAPSHOT.append(_recorded(module, lambda value: isinstance(
            value, (_types.FunctionType, type))))
    for path in _GUARDED_NAMESPACES.get(name, ()):
        namespace = module
        for part in filter(None, path.split(".")):
            namespace = getattr(namespace, part, None)
        if namespace is None:
            continue
        _LIBRARY_SNAPSHOT.append(_recorded(namespace, lambda value: callable(value) and not
                                           isinstance(value, (type, _types.ModuleType))))


class _RecordingLoader:
    """Wraps a module's loader to `_record` the module once it has run."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _record(module)

    def __getattr__(self, name):  # get_source, get_resource_reader, ...
        return getattr(self._loader, name)


class _RecordOnImport:
    """A `sys.meta_path` finder that records the watched modules as they load.

    Recording at import, before the notebook's code can reach a module,
    keeps the originals even though `import grader` loads them lazily.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname not in _UNRECORDED:
            return None
        for finder in _sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            # Any recorder, this one or one of a re-imported grader: skipped,
            # or two of them would ask each other forever.
            if type(finder).__name__ == type(self).__name__ or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RecordingLoader(spec.loader)
        return spec


def _watch_imports():
    """Record the watched modules already loaded; watch for the others."""
    for name in (*_PINNED_MODULES, *_GUARDED_NAMESPACES):
        module = _sys.modules.get(name)
        if module is None:
            _UNRECORDED.add(name)
        else:
            _record(module)
    if _UNRECORDED:
        _sys.meta_path.insert(0, _RecordOnImport())


_watch_imports()


def _pinned(module_name, name):
    """`name` of grader module `module_name` as it was when that module loaded."""
    if module_name not in _ORIGINALS:
        _importlib.import_module(module_name)
    return _ORIGINALS[module_name][name]


def _first_replaced(snapshot):
    """`(namespace, name)` of the first recorded attribute that is no longer the
    recorded object, or None. Runs after every piece of student code: the
    comparison of each namespace runs in C (`map`), not in a Python loop."""
    for namespace, names, values in snapshot:
        current = vars(namespace).get
        if not all(map(_operator.is_, map(current, names), values)):
            return namespace, next(name for name, value in zip(names, values)
                                   if current(name) is not value)
    return None


def _tampered():
    if _first_replaced(_SNAPSHOT) is not None:
        return ("the grader was modified in this kernel; restart the kernel and "
                "run the notebook again")
    replaced = _first_replaced(_LIBRARY_SNAPSHOT)
    if replaced is not None:
        namespace, name = replaced
        return (f"{namespace.__name__}.{name} was replaced in this kernel; restart the "
                "kernel and run the notebook again")
    return None


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def check(exercise_id, obj, *, hidden=None, quiet=False):
    """Grade a student's object for one exercise and return its `Score`.

    Args:
        exercise_id: the exercise id (`"softmax"`).
        obj: the student's function, class or model factory.
        hidden: True to run hidden cases too, False never; None (default)
            runs them only under nbgrader autograding
            (`NBGRADER_EXECUTION=autograde`).
        quiet: do not print the feedback.

    Returns:
        `Score`, a float in `[0, points]` (0 when the submission is or calls
        the kerasdl reference).

    Raises:
        UnknownExerciseError: no plugin registers `exercise_id`.
        PluginError: a plugin module is broken (an instructor error).
    """
    run_exercise = _pinned("grader.runner", "run_exercise")
    spec = _pinned("grader.registry", "default_registry").get(exercise_id)
    score = run_exercise(spec, obj, hidden=hidden, guard=_tampered)
    if not quiet:
        _pinned("grader.feedback", "show")(score)
    return score


def exercises():
    """Return a `pandas.DataFrame` of the registered exercises.

    Columns: `id`, `chapter`, `points`, `public_cases`, `hidden_cases`,
    `module`, `description`.
    """
    return _pinned("grader.registry", "default_registry").frame()


def points(exercise_id):
    """Return the maximum points of an exercise."""
    return _pinned("grader.registry", "default_registry").get(exercise_id).points
