"""Tests of `kerasdl-grade similarity` (`grader.course.similarity`).

A course holding the repository's ``ch04_softmax_regression`` (source and
released notebooks, no gradebook: nothing is executed) and six submissions
(`tests.grader.fixtures.similarity_class`): "ana" the instructor's solution,
"ben" the demo's NumPy-loop solution, "kim" her own TensorFlow solution, "lou"
kim's renamed and reordered, "pia" the kerasdl reference pasted from
`inspect.getsource`, "dan" the untouched stub. The copying pair and the paster
must be flagged, the independent solutions must not.
"""

import inspect
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import kerasdl
from grader import cli
from grader.course import similarity
from grader.demo import _grade_id, _is_solution, solution_code
from grader.demo.ch04_softmax_regression import _BEN
from tests.grader.fixtures.similarity_class import KIM, LOU

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ch04_softmax_regression"
STUB_BODY = "    # YOUR CODE HERE\n    raise NotImplementedError()"
# Below the flagging threshold (0.5), the honest pairs measured on this class
# stay under this; kept as a margin so that a drift shows.
HONEST_MAX = 0.35
# At least this much of the copier's and the paster's code is shared.
COPIED_MIN = 0.85
FRACTION_ATOL = 1e-9


def _write_submission(course, student, answers):
    released = nbformat.read(course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    for cell in released.cells:
        if _is_solution(cell) and _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(released, folder / f"{ASSIGNMENT}.ipynb")


@pytest.fixture(scope="module")
def sample_class(tmp_path_factory):
    """The course with the six submissions."""
    course = tmp_path_factory.mktemp("similarity") / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    for folder in ("solutions", "assignments"):
        shutil.copytree(REPO / folder / ASSIGNMENT, course / folder / ASSIGNMENT)
    source = nbformat.read(course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    released = nbformat.read(course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    stubs = {_grade_id(c): c.source for c in released.cells if _is_solution(c)}
    assert all(STUB_BODY in stub for stub in stubs.values())

    def fill(bodies):
        return {cell: stubs[cell].replace(STUB_BODY, body) for cell, body in bodies.items()}

    answers = {
        "ana": {_grade_id(c): solution_code(c) for c in source.cells if _is_solution(c)},
        "ben": _BEN,
        "kim": fill(KIM),
        "lou": fill(LOU),
        "pia": {cell: inspect.getsource(getattr(kerasdl, cell)) for cell in stubs},
        "dan": {},
    }
    for student, cells in answers.items():
        _write_submission(course, student, cells)
    return course


@pytest.fixture(scope="module")
def result(sample_class):
    return similarity.find_similar_work(ASSIGNMENT, sample_class)


def test_copiers_and_paster_flagged_honest_not(result):
    """Are kim/lou (renamed, reordered) and pia (pasted reference) flagged, and no one else?"""
    pairs = {(row.student, row.other) for row in result.pairs.itertuples()}
    assert pairs == {("kim", "lou"), ("pia", similarity.REFERENCE)}
    flagged = set(result.students.loc[result.students["similarity_flag"], "student"])
    assert flagged == {"kim", "lou", "pia"}
    matrix = result.matrix
    assert matrix.loc["kim", "lou"] >= COPIED_MIN and matrix.loc["lou", "kim"] >= COPIED_MIN
    np.testing.assert_allclose(matrix.loc["pia", similarity.REFERENCE], 1.0, atol=FRACTION_ATOL)
    honest = [("ana", "ben"), ("ben", "ana"), ("ana", "kim"), ("ben", "kim"),
              ("ana", similarity.REFERENCE), ("ben", similarity.REFERENCE)]  # fmt: skip
    for student, other in honest:
        assert matrix.loc[student, other] < HONEST_MAX, (student, other)


def test_released_stub_is_not_copying(result):
    """Does the untouched stub (signatures, docstrings) share nothing with anyone?"""
    np.testing.assert_allclose(result.matrix.loc["dan"].dropna(), 0.0, atol=FRACTION_ATOL)


def test_boilerplate_removes_shared_stub(tmp_path):
    """Without the stub as boilerplate, two stub-only students match fully; with it, not at all."""
    stub = (
        'def softmax(X):\n    """Row-wise softmax of X (n, q)."""\n'
        "    raise NotImplementedError()\n"
        'def accuracy(y_hat, y):\n    """Number of correct predictions."""\n'
        "    raise NotImplementedError()\n"
    )
    codes = {"a": stub, "b": stub}
    plain, _, _ = similarity.code_similarity(codes, tmp_path / "plain")
    cleaned, _, _ = similarity.code_similarity(codes, tmp_path / "clean", boilerplate=stub)
    np.testing.assert_allclose(plain.loc["a", "b"], 1.0, atol=FRACTION_ATOL)
    np.testing.assert_allclose(cleaned.loc["a", "b"], 0.0, atol=FRACTION_ATOL)


def test_files_written(result, sample_class):
    """Are the pairs CSV, the matrix, the student table, the heatmap and the HTML report written?"""
    folder = result.folder
    pairs = pd.read_csv(folder / "similar_pairs.csv")
    expected = {("kim", "lou"), ("pia", similarity.REFERENCE)}
    assert set(zip(pairs["student"], pairs["other"])) == expected
    matrix = pd.read_csv(folder / "similarity_matrix.csv", index_col="student")
    assert list(matrix.columns) == ["ana", "ben", "dan", "kim", "lou", "pia", similarity.REFERENCE]
    assert (folder / "similarity_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lou.py" in (folder / "copydetect.html").read_text()
    assert folder == sample_class / "reports" / ASSIGNMENT / "similarity"
    table = similarity.student_similarity(ASSIGNMENT, sample_class).set_index("student")
    assert table.loc["lou", "most_similar_to"] == "kim" and table.loc["lou", "similarity_flag"]
    assert not table.loc["ana", "similarity_flag"]


def test_command_prints_flagged_pairs(sample_class, tmp_path, capsys):
    """Does the command print the flagged pairs and where the files are?"""
    out = tmp_path / "out"
    code = cli.main(["similarity", ASSIGNMENT, "--course", str(sample_class), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Flagged pairs (similarity >= 0.5): 2" in printed
    assert str(out / "similarity_heatmap.png") in printed
