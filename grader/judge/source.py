"""What the judge reads from a notebook's source: test cells and reference use.

`check_call(source)` reads a (locked, restored-from-source) test cell such as
``grader.check("corr2d", corr2d)`` and returns the exercise id and the name
it grades. `reference_use(cells, name, spec)` looks through the submitted
code for a use of the kerasdl reference where the student defines `name`:
the cells that bind `name` (``def``, ``class``, assignment, import) and the
names they use, followed through other top-level definitions, are scanned
for an attribute of the `kerasdl` module (under any alias), a ``from
kerasdl import ...`` or a ``getattr(kerasdl, "...")`` of a kerasdl name the
exercise does not reuse, and for a function or class whose body is the
reference's own source. This is static: it sees what the notebook says,
which the student's kernel cannot change after the fact.

Code the grader cannot read is refused rather than trusted: behind the graded
name, code run from strings (``eval``, ``exec``, magics), imports and
attributes by computed names, namespaces (``sys.modules``, ``__dict__``,
``globals()``), the grader package (other than ``grader.check``) or either
package passed around as a value score 0 with the reason. A graded name no
code cell binds is refused the same way. The kernel's call watcher remains a
signal, and `kerasdl-grade similarity` finds pasted code.
"""

import ast
import inspect
import textwrap

__all__ = ["check_call", "reference_use", "normalized_dump"]

# The grader's check function as test cells call it.
_CHECK_NAMES = (("grader", "check"),)


def check_call(source):
    """``(exercise_id, expression)`` of a test cell's ``grader.check(id, obj)``, or None.

    The expression is a name or a dotted name (``corr2d``, ``mymodule.corr2d``).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) < 2:
            continue
        func = node.func
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and (func.value.id, func.attr) in _CHECK_NAMES):
            continue
        first, second = node.args[:2]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        expression = _dotted(second)
        if expression is not None:
            return first.value, expression
    return None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _parse(source):
    """The cell's AST, with IPython syntax (magics, ``!``) turned into Python first."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 (not IPython syntax either: parse as it is)
        pass
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


# Compound statements whose bodies run at the cell's top level.
_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _top_level(statements):
    """Statements run at module level, including those inside if/for/with/try blocks."""
    for statement in statements:
        yield statement
        if isinstance(statement, _BLOCKS):
            for field in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(statement, field, []))
            for handler in getattr(statement, "handlers", []):
                yield from _top_level(handler.body)


def _bound_names(tree):
    """Top-level names a cell binds, mapped to the statements that bind them."""
    bound = {}
    for statement in _top_level(tree.body):
        targets = []
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            targets = [statement.name]
        elif isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            nodes = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            targets = [n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)]
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            targets = [(alias.asname or alias.name).split(".")[0] for alias in statement.names]
        elif isinstance(statement, (ast.For, ast.AsyncFor)):
            targets = [n.id for n in ast.walk(statement.target) if isinstance(n, ast.Name)]
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            targets = [n.id for item in statement.items if item.optional_vars is not None
                       for n in ast.walk(item.optional_vars) if isinstance(n, ast.Name)]
        for name in targets:
            bound.setdefault(name, []).append(statement)
    return bound


def _kerasdl_aliases(trees, package="kerasdl"):
    """Names bound to `package` or its modules anywhere in the notebook."""
    aliases = {package}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == package or alias.name.startswith(package + "."):
                        aliases.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == package or node.module.startswith(package + ".")):
                for alias in node.names:
                    if alias.name[:1].islower() and not alias.name.startswith("_") and \
                            _is_module_name(node.module, alias.name):
                        aliases.add(alias.asname or alias.name)
    return aliases


# Calls that run code from strings or reach modules and namespaces by
# computed names: the grader cannot read what they use. Built-ins by name
# (``eval(...)``), library functions as attributes (``importlib.import_module``),
# so that a method of the same name (Keras' ``model.compile``) is not one.
_DYNAMIC_BUILTINS = frozenset({"eval", "exec", "compile", "__import__", "globals", "vars",
                               "locals", "get_ipython", "breakpoint"})
_DYNAMIC_FUNCTIONS = frozenset({"import_module", "__import__", "run_cell", "run_line_magic",
                                "run_cell_magic", "reload", "getsource", "find_spec",
                                "spec_from_file_location", "module_from_spec"})
# Attributes that reach namespaces, frames or code objects.
_DYNAMIC_ATTRIBUTES = frozenset({"__dict__", "__globals__", "__builtins__", "__code__",
                                 "__closure__", "__subclasses__", "__getattribute__",
                                 "f_globals", "f_locals", "f_back", "modules", "user_ns"})


def _dynamic_use(statements, aliases, grader_aliases):
    """What in `statements` reaches code the grader cannot read, or None.

    Code run from strings (``eval``, ``exec``, magics), imports by computed
    names, namespaces (``__dict__``, ``sys.modules``, ``globals()``),
    ``getattr`` with a computed name on the kerasdl or grader package, the
    grader package itself (other than ``grader.check``), or either package
    passed around as a value.
    """
    for statement in statements:
        attribute_roots = {id(node.value) for node in ast.walk(statement)
                           if isinstance(node, ast.Attribute)}
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else \
                    func.attr if isinstance(func, ast.Attribute) else None
                if (isinstance(func, ast.Name) and called in _DYNAMIC_BUILTINS) or (
                        isinstance(func, ast.Attribute) and called in _DYNAMIC_FUNCTIONS):
                    return f"{called}()"
                if called in ("getattr", "setattr") and len(node.args) >= 2 and not (
                        isinstance(node.args[1], ast.Constant)
                        and isinstance(node.args[1].value, str)) and (
                        isinstance(node.args[0], ast.Name)
                        and node.args[0].id in aliases | grader_aliases):
                    return f"{called}({node.args[0].id}, <computed name>)"
            elif isinstance(node, ast.Attribute):
                if node.attr in _DYNAMIC_ATTRIBUTES:
                    return f".{node.attr}"
                root = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in grader_aliases and not (
                        node.value is root and node.attr == "check"):
                    if isinstance(node.value, ast.Name):
                        return f"{root.id}.{node.attr}"
            elif (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                  and node.id in aliases | grader_aliases
                  and id(node) not in attribute_roots):
                return f"the module {node.id} used as a value"
    return None


def _is_module_name(package, name):
    import importlib.util

    try:
        return importlib.util.find_spec(f"{package}.{name}") is not None
    except (ImportError, ValueError):
        return False


def _kerasdl_names(statements, aliases):
    """kerasdl names the statements use: ``alias.name``, ``from kerasdl import name``,
    ``getattr(alias, "name")``."""
    found = set()
    for statement in statements:
        for node in ast.walk(statement):
            if isinstance(node, ast.Attribute):
                root = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in aliases:
                    found.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module and (
                    node.module == "kerasdl" or node.module.startswith("kerasdl.")):
                found.update(alias.name for alias in node.names)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id == "getattr" and len(node.args) >= 2
                  and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases
                  and isinstance(node.args[1], ast.Constant)
                  and isinstance(node.args[1].value, str)):
                found.add(node.args[1].value)
    return found


def _used_names(statements):
    return {node.id for statement in statements for node in ast.walk(statement)
            if isinstance(node, ast.Name)}


# Definitions smaller than this many AST nodes are never called copies: short
# correct functions (`s = sigmoid(x); return s * (1 - s)`) look alike.
MIN_COPY_NODES = 60
# With its names changed, a copy must be at least this large to count.
MIN_RENAMED_COPY_NODES = 120


def normalized_dump(node, *, rename=True):
    """An AST dump without docstrings, and without names if `rename`."""
    class _Strip(ast.NodeTransformer):
        def visit_Name(self, n):
            return ast.copy_location(ast.Name(id="_", ctx=n.ctx), n) if rename else n

        def visit_arg(self, n):
            return ast.copy_location(ast.arg(arg="_"), n) if rename else n

        def _strip_doc(self, n):
            self.generic_visit(n)
            body = n.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                n.body = body[1:] or [ast.Pass()]
            if rename:
                n.name = "_"
            return n

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _strip_doc

    copy = _Strip().visit(ast.parse(ast.unparse(node)))
    return ast.dump(copy, annotate_fields=False), sum(1 for _ in ast.walk(copy))


def _reference_dumps(reference):
    """Dumps a copy of the reference's definition would have (large enough ones only)."""
    try:
        source = textwrap.dedent(inspect.getsource(reference))
    except (OSError, TypeError):
        return set()
    tree = _parse(source)
    if tree is None:
        return set()
    dumps = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for rename, minimum in ((False, MIN_COPY_NODES), (True, MIN_RENAMED_COPY_NODES)):
                dump, size = normalized_dump(node, rename=rename)
                if size >= minimum:
                    dumps.add(dump)
    return dumps


def _is_copy(statement, reference_dumps):
    return any(normalized_dump(statement, rename=rename)[0] in reference_dumps
               for rename in (False, True))


def _kerasdl_callables():
    """Names of the functions and classes the kerasdl package and its modules define."""
    import pkgutil
    import importlib

    import kerasdl

    names = set()
    modules = [kerasdl] + [importlib.import_module(info.name) for info in
                           pkgutil.walk_packages(kerasdl.__path__, "kerasdl.")
                           if not info.name.split(".")[-1].startswith("_")]
    for module in modules:
        names.update(key for key, value in vars(module).items()
                     if (inspect.isfunction(value) or inspect.isclass(value))
                     and getattr(value, "__module__", "").startswith("kerasdl"))
    return frozenset(names)


def _function_globals(statement):
    """Global names a def/class statement's code reads (Python's own scope analysis)."""
    import symtable

    try:
        table = symtable.symtable(ast.unparse(statement), "<cell>", "exec")
    except SyntaxError:
        return _used_names([statement])
    found = set()

    def walk(t):
        for symbol in t.get_symbols():
            if symbol.is_global() or (t.get_type() == "module" and symbol.is_referenced()):
                found.add(symbol.get_name())
        for child in t.get_children():
            walk(child)

    walk(table)
    return found


def _follows(statement):
    """Whether a binding statement is code to follow (not data a demo cell computed)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                              ast.ImportFrom, ast.Import)):
        return True
    value = getattr(statement, "value", None)
    return isinstance(value, (ast.Name, ast.Attribute, ast.Lambda))


def _names_read(statement):
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return _function_globals(statement)
    value = getattr(statement, "value", None)
    return _used_names([value]) if value is not None else set()


def reference_use(cells, name, spec):
    """Why the code behind `name` uses the exercise's reference, or None.

    Starting from the statements that bind `name`, follows the global names
    their code reads (Python's scope analysis, so parameters and locals are
    not followed) to the functions, classes, imports and aliases that define
    them, and reports the first kerasdl function or class they use that the
    exercise does not reuse, or a definition that is the reference's own
    code with other names.

    Args:
        cells: the notebook's code cell sources, in order.
        name: what the test cell grades (``corr2d`` or a dotted name).
        spec: the `Exercise` (its `id`, `reuses` and `reference`).

    Returns:
        A message ("your code uses kerasdl.corr2d", "your corr2d is the
        kerasdl reference's own code"), or None.
    """
    trees = [tree for tree in (_parse(source) for source in cells) if tree is not None]
    aliases = _kerasdl_aliases(trees)
    grader_aliases = _kerasdl_aliases(trees, "grader")
    definitions = {}
    for tree in trees:
        for bound, statements in _bound_names(tree).items():
            definitions.setdefault(bound, []).extend(statements)
    forbidden = _kerasdl_callables() - set(spec.reuses)
    own = {spec.id, getattr(spec.reference, "__name__", spec.id)} - set(spec.reuses)
    reference_dumps = _reference_dumps(spec.reference)
    root = name.split(".")[0]
    if root not in definitions:
        return (f"{root} is not defined by code the grader can read "
                "(a def, class, assignment or import in a code cell)")
    seen, queue = set(), [root]
    while queue:
        current = queue.pop()
        if current in seen or current in aliases:
            continue
        seen.add(current)
        every = definitions.get(current, [])
        statements = [s for s in every if current == root or _follows(s)]
        used = sorted((_kerasdl_names(statements, aliases) & forbidden)
                      | (_kerasdl_names(every, aliases) & own))
        if used:
            called = spec.id if spec.id in used else used[0]
            return f"your code uses kerasdl.{called}"
        dynamic = _dynamic_use(every, aliases, grader_aliases)
        if dynamic:
            return (f"the code behind {current} uses {dynamic}, which reaches code "
                    "the grader cannot check for use of the reference")
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.ClassDef)) and \
                    _is_copy(statement, reference_dumps):
                return f"your {current} is the kerasdl reference's own code"
            queue.extend(_names_read(statement) - seen)
    return None
