"""The exercise registry: the `@exercise` decorator and plugin discovery.

A plugin module decorates one builder function per exercise::

    @exercise("softmax", chapter="ch04_softmax_regression", points=2,
              reference=kerasdl.softmax)
    def softmax_cases(c):
        c.values("random (4, 10)", c.normal((4, 10)))

The decorator validates its options and marks the function; a `Registry`
registers the marked functions of each module it loads: the built-in modules
of `grader.checks` and every module named by an entry point of the group
`kerasdl.grader_plugins`. A duplicate id is an error naming both modules.
"""

import dataclasses
import difflib
import importlib
import importlib.metadata
import inspect
import pkgutil

import pandas as pd

from grader.errors import PluginError, UnknownExerciseError
from grader.integrity import reference_fingerprint

__all__ = ["ENTRY_POINT_GROUP", "Exercise", "exercise", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "kerasdl.grader_plugins"
# Attribute the decorator sets on a builder function.
_MARK = "__grader_exercise__"
# Kinds of graded objects and their default per-case time budgets (seconds).
DEFAULT_TIMEOUTS = {"function": 10.0, "class": 30.0, "model": 60.0}
_REQUIRED = ("chapter", "points", "reference")
_OPTIONAL = ("reuses", "kind", "timeout", "seed", "random_draws")
_OPTIONS = _REQUIRED + _OPTIONAL


@dataclasses.dataclass
class Exercise:
    """One registered exercise.

    Attributes:
        id: exercise id, as in the catalog (`"softmax"`).
        chapter: the chapter's name (`"ch04_softmax_regression"`).
        points: the maximum score.
        reference: the reference object, held privately.
        build: the builder function `build(c)` declaring the cases.
        module: name of the plugin module that registered it.
        reuses: names of kerasdl functions the student's code may call.
        kind: `"function"`, `"class"` or `"model"` (sets the time budget).
        timeout: per-case time budget in seconds, or None for the kind's.
        seed: seed of the case inputs and of every call.
        random_draws: the submission's outputs are random draws judged by
            their statistics; each call reseeds TensorFlow with its kernel
            cache cleared, so every run draws the same sample (see
            `grader.sandbox.seed_everything`).
        fingerprint: the reference's code objects at registration.
    """

    id: str
    chapter: str
    points: float
    reference: object
    build: object
    module: str
    reuses: tuple = ()
    kind: str = "function"
    timeout: float | None = None
    seed: int = 0
    random_draws: bool = False
    fingerprint: tuple = ()

    @property
    def description(self):
        doc = inspect.getdoc(self.build) or ""
        return doc.splitlines()[0] if doc else ""


def _option_error(name, value):
    close = difflib.get_close_matches(name, _OPTIONS, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return TypeError(
        f"exercise() got an unknown option {name!r}{suggestion}; valid options "
        f"are {', '.join(_OPTIONS)}. Received: {name}={value!r}"
    )


def exercise(exercise_id, **options):
    """Mark a builder function as the cases of an exercise.

    Args:
        exercise_id: the catalog id (`"softmax"`); a non-empty identifier.
        **options: `chapter` (str, required), `points` (positive number,
            required), `reference` (callable, required), `reuses` (names of
            kerasdl functions the student may call, default none), `kind`
            (`"function"`, `"class"` or `"model"`, default `"function"`),
            `timeout` (seconds per case, default by kind), `seed` (int,
            default 0), `random_draws` (bool, default False: set it when
            the student's outputs are random draws checked statistically).

    Returns:
        A decorator that returns the builder unchanged (marked).

    Raises:
        TypeError: an unknown option (misspelt), a wrong option type.
        ValueError: a missing required option or a bad value.
    """
    if not isinstance(exercise_id, str) or not exercise_id.isidentifier():
        raise ValueError(
            "`exercise_id` must be a Python identifier string. "
            f"Received: exercise_id={exercise_id!r}"
        )
    for name, value in options.items():
        if name not in _OPTIONS:
            raise _option_error(name, value)
    for name in _REQUIRED:
        if name not in options:
            raise ValueError(
                f"exercise({exercise_id!r}) needs the option `{name}`. "
                f"Received: {name}=None"
            )
    points = options["points"]
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise ValueError(f"`points` must be a positive number. Received: points={points!r}")
    if not callable(options["reference"]):
        raise TypeError(
            f"`reference` must be callable. Received: reference={options['reference']!r}"
        )
    kind = options.get("kind", "function")
    if kind not in DEFAULT_TIMEOUTS:
        raise ValueError(
            f"`kind` must be one of {sorted(DEFAULT_TIMEOUTS)}. Received: kind={kind!r}"
        )
    reuses = options.get("reuses", ())
    if isinstance(reuses, str) or not all(isinstance(r, str) for r in reuses):
        raise TypeError(f"`reuses` must be a tuple of names. Received: reuses={reuses!r}")
    timeout = options.get("timeout")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"`timeout` must be a positive number. Received: timeout={timeout!r}")

    random_draws = options.get("random_draws", False)
    if not isinstance(random_draws, bool):
        raise TypeError(
            f"`random_draws` must be True or False. Received: random_draws={random_draws!r}")

    def decorator(build):
        if not callable(build):
            raise TypeError(f"@exercise decorates a function. Received: {build!r}")
        setattr(build, _MARK, Exercise(
            id=exercise_id,
            chapter=str(options["chapter"]),
            points=points,
            reference=options["reference"],
            build=build,
            module=build.__module__,
            reuses=tuple(reuses),
            kind=kind,
            timeout=timeout,
            seed=int(options.get("seed", 0)),
            random_draws=random_draws,
            fingerprint=reference_fingerprint(options["reference"]),
        ))
        return build

    return decorator


class Registry:
    """Registered exercises, loaded from plugin modules on first use."""

    def __init__(self, *, builtin_package="grader.checks", entry_point_group=ENTRY_POINT_GROUP):
        self._exercises = {}
        self._builtin_package = builtin_package
        self._group = entry_point_group
        self._loaded = False

    def add(self, spec):
        """Register an `Exercise`; a duplicate id raises `PluginError`."""
        previous = self._exercises.get(spec.id)
        if previous is not None and previous is not spec:
            raise PluginError(
                f"exercise id {spec.id!r} is registered twice: by module "
                f"{previous.module!r} and by module {spec.module!r}"
            )
        self._exercises[spec.id] = spec

    def load_module(self, module_name):
        """Import a plugin module and register the exercises it marks."""
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise PluginError(
                f"grader plugin module {module_name!r} failed to import: "
                f"{type(error).__name__}: {error}"
            ) from error
        for value in list(vars(module).values()):
            spec = getattr(value, _MARK, None)
            if isinstance(spec, Exercise) and spec.module == module.__name__:
                self.add(spec)
        return module

    def load_builtin(self):
        """Load every module of the built-in plugin package."""
        package = importlib.import_module(self._builtin_package)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not info.name.startswith("_"):
                self.load_module(f"{self._builtin_package}.{info.name}")

    def load_entry_points(self):
        """Load the modules named by the `kerasdl.grader_plugins` entry points."""
        for entry_point in importlib.metadata.entry_points(group=self._group):
            self.load_module(entry_point.module)

    def ensure_loaded(self):
        """Load built-in and entry-point plugins once."""
        if not self._loaded:
            self._loaded = True
            try:
                self.load_builtin()
                self.load_entry_points()
            except BaseException:
                self._loaded = False
                raise

    def get(self, exercise_id):
        """Return the `Exercise` of an id, or raise `UnknownExerciseError`."""
        self.ensure_loaded()
        try:
            return self._exercises[exercise_id]
        except (KeyError, TypeError):
            close = difflib.get_close_matches(str(exercise_id), list(self._exercises), n=1)
            suggestion = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownExerciseError(
                f"Unknown exercise id {exercise_id!r}.{suggestion} "
                "See grader.exercises() for the registered ids."
            ) from None

    def ids(self):
        """Return the registered ids, in registration order."""
        self.ensure_loaded()
        return list(self._exercises)

    def frame(self):
        """Return a `pandas.DataFrame` describing every registered exercise.

        Columns: `id`, `chapter`, `points`, `public_cases`, `hidden_cases`,
        `module`, `description`.
        """
        from grader.builder import CaseBuilder

        self.ensure_loaded()
        rows = []
        for spec in self._exercises.values():
            builder = CaseBuilder(spec.seed)
            spec.build(builder)
            hidden = sum(case.hidden for case in builder.cases)
            rows.append({
                "id": spec.id,
                "chapter": spec.chapter,
                "points": spec.points,
                "public_cases": len(builder.cases) - hidden,
                "hidden_cases": hidden,
                "module": spec.module,
                "description": spec.description,
            })
        columns = ["id", "chapter", "points", "public_cases", "hidden_cases",
                   "module", "description"]
        return pd.DataFrame(rows, columns=columns)


default_registry = Registry()
