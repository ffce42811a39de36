"""Built-in check plugins, one module per chapter of the exercise catalog.

Every module here is loaded by `grader.registry.Registry.load_builtin`;
modules whose name starts with `_` hold shared helpers and are skipped.
"""
