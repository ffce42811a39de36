"""Structure of the course notebooks: sources, nbgrader metadata, points, config.

Fast checks that need no kernel: the committed solution notebooks are what the
builder makes of their sources, every exercise of the catalog is graded exactly
once in its chapter's notebook with the grader's points, solution and test
cells carry nbgrader's metadata, and the nbgrader configuration drops only
TensorFlow's C++ log lines from stderr.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

import grader
from nbcourse import CHAPTERS, COURSE_ID, ROOT, build_notebooks

NBGRADER_SCHEMA_VERSION = 3
CHECK_LINE = re.compile(r'^grader\.check\("(?P<id>\w+)", (?P<name>\w+)\)$')
ABSL_STDERR = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795974856.908790    5053 cudart_stub.cc:31] Could not find cuda drivers"
    " on your machine, GPU will not be used.\n"
)
CUINIT_STDERR = (
    "E0000 00:00:1795974861.498579    5053 cuda_platform.cc:52] failed call to cuInit:"
    " INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
ONEDNN_STDERR = (
    "2024-05-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom"
    " operations are on. You may see slightly different numerical results.\n"
)
PYTHON_WARNING_STDERR = "/tmp/x.py:3: UserWarning: something is off\n  warnings.warn(\n"


def _solution(chapter):
    return nbformat.read(build_notebooks.solution_path(chapter), as_version=4)


def _graded_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _solution_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


@pytest.fixture(scope="module")
def catalog():
    """The grader's registry: exercise id -> (chapter, points)."""
    frame = grader.exercises()
    return {row.id: (row.chapter, int(row.points)) for row in frame.itertuples()}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_notebook_is_built_from_its_source(chapter):
    """Is the committed solution notebook exactly what the builder makes of its source?"""
    built = build_notebooks.notebook_text(build_notebooks.build_notebook(chapter))
    committed = build_notebooks.solution_path(chapter).read_text(encoding="utf-8")
    assert committed == built, f"run: python scripts/build_notebooks.py {chapter}"


def test_builder_points_equal_grader_points(catalog):
    """Does the builder's points table give every catalog exercise the grader's points?"""
    assert set(build_notebooks.POINTS) == set(catalog)
    for exercise_id, (_, points) in catalog.items():
        assert build_notebooks.POINTS[exercise_id] == points == grader.points(exercise_id)


def test_every_exercise_is_graded_exactly_once_in_its_chapter(catalog):
    """Does each exercise id appear in exactly one test cell, in its chapter's notebook?"""
    seen = {}
    for chapter in CHAPTERS:
        for cell in _graded_cells(_solution(chapter)):
            exercise_id = CHECK_LINE.match(cell.source.splitlines()[-1]).group("id")
            assert exercise_id not in seen, f"{exercise_id} graded in {seen[exercise_id]} too"
            seen[exercise_id] = chapter
    assert seen == {exercise_id: chapter for exercise_id, (chapter, _) in catalog.items()}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_graded_cells_are_locked_and_worth_the_grader_points(chapter, catalog):
    """Is each test cell locked, graded, worth grader.points(id), and ending in grader.check?"""
    for cell in _graded_cells(_solution(chapter)):
        match = CHECK_LINE.match(cell.source.splitlines()[-1])
        assert match, cell.source
        exercise_id = match.group("id")
        assert match.group("name") == exercise_id
        assert cell.metadata["nbgrader"] == {
            "grade": True, "solution": False, "locked": True,
            "points": grader.points(exercise_id), "grade_id": f"test_{exercise_id}",
            "schema_version": NBGRADER_SCHEMA_VERSION,
        }


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_exercise_has_a_solution_cell_before_its_test(chapter):
    """Does a solution cell defining the exercise's name come right before each test cell?"""
    cells = _solution(chapter).cells
    for index, cell in enumerate(cells):
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        exercise_id = CHECK_LINE.match(cell.source.splitlines()[-1]).group("id")
        answer = cells[index - 1]
        assert answer.metadata["nbgrader"] == {
            "grade": False, "solution": True, "locked": False,
            "grade_id": exercise_id, "schema_version": NBGRADER_SCHEMA_VERSION,
        }
        assert "### BEGIN SOLUTION" in answer.source and "### END SOLUTION" in answer.source
        defined = {
            node.name for node in ast.parse(answer.source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))
        }
        assert exercise_id in defined


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_do_not_call_the_reference(chapter):
    """Are the answers the student's own code, never a call into kerasdl?"""
    for cell in _solution_cells(_solution(chapter)):
        assert "kerasdl" not in cell.source, cell.source


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_first_code_cell_quiets_tensorflow_before_importing_it(chapter):
    """Does the first code cell load TensorFlow through grader.quiet_tensorflow() first?"""
    notebook = _solution(chapter)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert not first.metadata.get("nbgrader", {}).get("grade")
    lines = first.source.splitlines()
    quiet = next(i for i, line in enumerate(lines) if line.startswith("grader.quiet_tensorflow()"))
    assert lines.index("import grader") < quiet
    for statement in ("import tensorflow as tf", "import keras", "import numpy as np",
                      "import kerasdl"):
        assert lines.index(statement) > quiet, statement
    for cell in notebook.cells[1:]:
        if cell is not first and cell.cell_type == "code":
            assert "import tensorflow" not in cell.source


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebook_names_its_section_of_the_notes(chapter):
    """Does the notebook's first cell name the notes' section it covers?"""
    title = _solution(chapter).cells[0]
    assert title.cell_type == "markdown"
    assert re.search(r"Source: notes, \d+\.\d+ ", title.source)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_training_budget_is_explicit_under_autograde(chapter):
    """Does every notebook that trains on Fashion-MNIST cut its budget under NBGRADER_EXECUTION?"""
    source = "\n".join(c.source for c in _solution(chapter).cells if c.cell_type == "code")
    if "kerasdl.train(" in source:
        assert 'GRADING = "NBGRADER_EXECUTION" in os.environ' in source
        assert "if GRADING else" in source or "if GRADING:" in source


def test_config_maps_the_course_directories():
    """Does nbgrader_config.py set the course id, the two folders and a per-cell timeout?"""
    config = _config()
    assert config.CourseDirectory.course_id == COURSE_ID
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    assert 30 < config.Execute.timeout <= 600


@pytest.mark.parametrize("stderr", [ABSL_STDERR, CUINIT_STDERR, ONEDNN_STDERR,
                                    ABSL_STDERR + CUINIT_STDERR])
def test_ignore_pattern_drops_tensorflow_log_lines(stderr):
    """Does the IgnorePattern drop stderr made only of TensorFlow's C++ log lines?"""
    config = _config()
    assert config.IgnorePattern.enabled
    assert re.search(config.IgnorePattern.pattern, stderr)


@pytest.mark.parametrize("stderr", [PYTHON_WARNING_STDERR, ABSL_STDERR + PYTHON_WARNING_STDERR,
                                    "Traceback (most recent call last):\n"])
def test_ignore_pattern_keeps_other_stderr(stderr):
    """Does stderr holding anything else (a Python warning) survive, so it still costs points?"""
    assert not re.search(_config().IgnorePattern.pattern, stderr)


def test_builder_rejects_a_delimiter_in_markdown(tmp_path, monkeypatch):
    """Does the builder refuse markdown that nbgrader would mistake for a solution region?"""
    (tmp_path / "bad.py").write_text("# %% [markdown]\n# Write between ### BEGIN SOLUTION\n")
    monkeypatch.setattr(build_notebooks, "SOURCES", Path(tmp_path))
    with pytest.raises(build_notebooks.SourceError, match="nbgrader delimiter"):
        build_notebooks.build_notebook("bad")
