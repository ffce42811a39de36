"""The grading install of `kerasdl` and `grader` that sandboxed kernels import.

A sandboxed kernel must not import the course's writable source tree (an
editable install points into it). `package_snapshot` copies the folders of the
imported packages into a cache folder outside the course, named by a hash of
their content, byte-compiles them and makes them read-only; the sandbox binds
that folder read-only and puts it first on ``PYTHONPATH``. A snapshot is
reused while the sources are unchanged. `editable_hooks` lists the files of an
editable install (``__editable__*.pth`` and its finder) that the sandbox hides.

This module imports neither TensorFlow nor the packages it copies.
"""

import compileall
import hashlib
import importlib.util
import os
import shutil
import stat
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

__all__ = [
    "DEFAULT_PACKAGES",
    "editable_hooks",
    "package_snapshot",
    "packages_digest",
    "snapshot_cache_dir",
]

# Packages a graded notebook imports from the course.
DEFAULT_PACKAGES = ("kerasdl", "grader")
# Environment variable naming the folder that holds the snapshots.
CACHE_DIR_ENV = "KERASDL_SANDBOX_CACHE"
# Hex digits of the content hash kept in a snapshot's folder name.
_DIGEST_CHARS = 20
# A snapshot unused for this long is removed when a new one is made.
_STALE_SECONDS = 24 * 3600
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def snapshot_cache_dir():
    """The folder holding snapshots: ``$KERASDL_SANDBOX_CACHE``, else
    ``${XDG_CACHE_HOME:-~/.cache}/kerasdl/sandbox-packages``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(base) / "kerasdl" / "sandbox-packages").resolve()


def _package_dir(name):
    """The folder of the importable package `name`, found without importing it."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"`packages` must hold package names. Received: {name!r}")
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    # A regular package has an __init__.py (its origin); a namespace package
    # of the same name (a tests/kerasdl folder on sys.path) has none.
    regular = spec is not None and spec.origin is not None and \
        Path(spec.origin).name == "__init__.py"
    if len(locations) != 1 or not regular:
        raise ValueError(
            f"`packages`: {name!r} is not an importable regular package "
            f"(found: {locations or spec})"
        )
    return Path(locations[0]).resolve()


def _files(root):
    """Relative paths of the files under `root` that a snapshot copies, sorted."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in names:
            if not name.endswith((".pyc", ".pyo")):
                found.append(Path(folder, name).relative_to(root))
    return sorted(found)


def _digest(sources):
    """Hash of the packages' names, file paths and contents, and the bytecode tag."""
    digest = hashlib.sha256(sys.implementation.cache_tag.encode())
    for name, root in sources.items():
        digest.update(b"\0package\0" + name.encode())
        for relative in _files(root):
            digest.update(b"\0file\0" + str(relative).encode() + b"\0")
            digest.update((root / relative).read_bytes())
    return digest.hexdigest()[:_DIGEST_CHARS]


def packages_digest(packages=DEFAULT_PACKAGES):
    """Hash of the packages' files (what a snapshot of them would be named by).

    Two processes grade alike only if this is equal: the grading workers of a
    cluster are compared with the instructor's machine by it.
    """
    return _digest({name: _package_dir(name) for name in packages})


def _set_read_only(root, writable=False):
    """Make every file and folder under `root` (itself included) read-only, or writable again."""
    file_mode, dir_mode = (0o644, 0o755) if writable else (0o444, 0o555)
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, file_mode)
        os.chmod(folder, dir_mode)


def _remove_stale(cache_dir, keep):
    """Remove snapshots (other than `keep`) unused for `_STALE_SECONDS`."""
    now = time.time()
    for path in cache_dir.iterdir():
        if path == keep or not path.is_dir() or path.name.startswith("."):
            continue
        try:
            if now - path.stat().st_mtime > _STALE_SECONDS:
                _set_read_only(path, writable=True)
                shutil.rmtree(path)
        except OSError:
            pass  # used by another process, or already removed: harmless


def package_snapshot(packages=DEFAULT_PACKAGES, cache_dir=None):
    """Read-only, byte-compiled copy of `packages`, reused while their sources are unchanged.

    Args:
        packages: names of importable regular packages (their folders are
            found with `importlib.util.find_spec`, without importing them).
        cache_dir: folder holding the snapshots; `snapshot_cache_dir()` by
            default. It must not lie inside a copied package's parent folder
            (the course, for an editable install).

    Returns:
        `Path` of the snapshot folder: it holds one sub-folder per package, so
        it goes first on ``PYTHONPATH``. Files are mode 0444, folders 0555.

    Raises:
        ValueError: a name is not an importable regular package, or
            `cache_dir` lies inside the course.
    """
    if isinstance(packages, str) or not packages:
        raise ValueError(f"`packages` must be a non-empty list of names. Received: {packages!r}")
    sources = {name: _package_dir(name) for name in packages}
    cache_dir = Path(cache_dir).expanduser().resolve() if cache_dir else snapshot_cache_dir()
    for name, root in sources.items():
        if cache_dir.is_relative_to(root.parent):
            raise ValueError(
                f"`cache_dir` ({cache_dir}) lies inside {root.parent}, the folder holding "
                f"package {name!r}; choose a folder outside the course"
            )
    final = cache_dir / _digest(sources)
    if final.is_dir():
        os.utime(final)  # marks it as in use for `_remove_stale`
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        for name, root in sources.items():
            shutil.copytree(root, build / name, ignore=_IGNORED, symlinks=False)
        compileall.compile_dir(str(build), quiet=1, workers=1)
        _set_read_only(build)
        try:
            os.rename(build, final)
        except OSError:
            if not final.is_dir():  # not a concurrent build of the same content
                raise
    finally:
        if build.exists():
            _set_read_only(build, writable=True)
            shutil.rmtree(build, ignore_errors=True)
    _remove_stale(cache_dir, keep=final)
    return final


def editable_hooks(packages=DEFAULT_PACKAGES):
    """Files of the site-packages that would let `packages` be imported from the course.

    These are setuptools' editable-install hooks (``__editable__*.pth`` and the
    finder modules they import) and any other ``.pth`` file naming the folder
    that holds one of `packages`. The sandbox binds ``/dev/null`` over each.

    Returns:
        sorted list of `Path`.
    """
    roots = set()
    for name in packages:
        try:
            roots.add(str(_package_dir(name).parent))
        except ValueError:
            pass
    site_dirs = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    roots -= site_dirs  # a non-editable install: nothing points into a course
    hooks = set()
    for site_dir in map(Path, site_dirs):
        if not site_dir.is_dir():
            continue
        for path in site_dir.iterdir():
            if not path.is_file() or not stat.S_ISREG(path.stat().st_mode):
                continue
            if path.name.startswith("__editable__"):
                hooks.add(path)
            elif path.suffix == ".pth":
                text = path.read_text(errors="replace")
                if any(root in text for root in roots):
                    hooks.add(path)
    return sorted(hooks)
