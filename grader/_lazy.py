"""Lazy public names for a package (PEP 562), shared by `grader` and `grader.course`."""

import importlib


def lazy_exports(module_name, exports, module_globals):
    """Return a module's `__getattr__` and `__dir__` resolving names on first use.

    Args:
        module_name: the package's dotted name (`"grader"`), used in the
            `AttributeError` message.
        exports: dict mapping each lazy public name to the dotted name of
            the submodule defining it.
        module_globals: the package's `globals()`; a resolved name is stored
            there so later lookups skip `__getattr__`. Its `__all__` is listed
            by `__dir__`.

    Returns:
        `(__getattr__, __dir__)`, to assign at the package's module level.
    """

    def __getattr__(name):
        """Import the submodule defining public name `name` on first access (PEP 562)."""
        submodule = exports.get(name)
        if submodule is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(submodule), name)
        module_globals[name] = value  # later lookups skip this function
        return value

    def __dir__():
        return sorted(set(module_globals) | set(module_globals.get("__all__", ())))

    return __getattr__, __dir__
