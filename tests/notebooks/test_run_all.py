"""Does "Run All" reach the end of every released notebook, whatever is finished?

A student runs the notebook top to bottom long before every exercise is done.
For each chapter, the released notebook (`assignments/`) is run untouched, and
then once per exercise with only that exercise's answer cell filled in with the
instructor's code: the "Run All" of a student who finished that one exercise.
In every run, no cell may raise (Jupyter stops "Run All" at the first error),
every graded cell must show its score, and each demonstration guarded by
`grader.done(...)` must print its "finish ... above to see this" line exactly
when one of the exercises it names is unfinished.

Cost: the runs of one chapter share one kernel, one after the other; each run
starts with IPython's `%reset -f`, which empties the kernel's namespace, so a
run sees only the names its own cells define (as in a fresh kernel) and
imported modules are not loaded twice. The kernel runs with
`NBGRADER_EXECUTION=validate`: the training demonstrations use their small
grading budget and the checks skip their hidden cases. The first run of every
chapter is the untouched notebook in a new kernel, whose first cell must write
nothing to stderr (no TensorFlow C++ log line, no CUDA error).
"""

import ast
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbcourse import CHAPTERS, ROOT, nbgrader_environ

from grader.demo import solution_code

UNTOUCHED = "untouched"
# Seconds one cell may run (the course's nbgrader per-cell timeout).
CELL_TIMEOUT_SECONDS = 180
GUARD = re.compile(r"grader\.done\((?P<args>[^)]*)\)")
FINISH_LINE = re.compile(r"^finish .* above to see this$")


def _read(folder, chapter):
    return nbformat.read(ROOT / folder / chapter / f"{chapter}.ipynb", as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _is_answer(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def _is_graded(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def variants(chapter):
    """`{run name: code cells}`: the untouched notebook, then one per solved exercise."""
    released = _read("assignments", chapter)
    answers = {_grade_id(c): solution_code(c) for c in _read("solutions", chapter).cells
               if _is_answer(c)}
    code_cells = [c for c in released.cells if c.cell_type == "code"]
    runs = {UNTOUCHED: code_cells}
    for exercise_id, answer in answers.items():
        cells = []
        for cell in code_cells:
            cell = nbformat.from_dict(cell)  # a copy
            if _is_answer(cell) and _grade_id(cell) == exercise_id:
                cell.source = answer
            cells.append(cell)
        runs[exercise_id] = cells
    return runs


def _kernel_environment():
    """A student's environment: no TensorFlow logging variables set, small budgets."""
    env = nbgrader_environ()
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "KERASDL_GRADER_CASE_TIMEOUT"):
        env.pop(name, None)
    env["NBGRADER_EXECUTION"] = "validate"
    return env


@pytest.fixture(scope="module", params=CHAPTERS)
def run_all(request, tmp_path_factory):
    """Executes every run of one chapter in one kernel; returns `{run: executed cells}`."""
    chapter = request.param
    runs = variants(chapter)
    cells = []
    for name, run_cells in runs.items():
        reset = nbformat.v4.new_code_cell("%reset -f")
        reset.id, reset.metadata["run"] = f"{name}-reset", name
        cells.append(reset)
        for index, cell in enumerate(run_cells):
            cell = nbformat.from_dict(cell)
            cell.id = f"{name}-{index}"  # unique in the combined notebook
            cell.metadata["run"], cell.metadata["index"] = name, index
            cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = _read("assignments", chapter).metadata
    folder = tmp_path_factory.mktemp(chapter)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3",
                            allow_errors=True, resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    client.execute(env=_kernel_environment(), cwd=str(folder))
    seconds = time.perf_counter() - start
    print(f"\nrun all {chapter}: {len(runs)} runs, {seconds:.1f} s")
    executed = {name: [] for name in runs}
    for cell in notebook.cells:
        if "index" in cell.metadata:
            executed[cell.metadata["run"]].append(cell)
    print(", ".join(f"{name} {_run_seconds(cells):.1f} s" for name, cells in executed.items()))
    return {"chapter": chapter, "runs": executed, "seconds": seconds}


def _run_seconds(cells):
    """Wall time from the first cell's start to the last cell's reply (nbclient's timing)."""
    timings = [cell.metadata.get("execution", {}) for cell in cells]
    start = timings[0].get("iopub.execute_input")
    end = timings[-1].get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    from datetime import datetime
    return (datetime.fromisoformat(end.rstrip("Z")) - datetime.fromisoformat(start.rstrip("Z"))
            ).total_seconds()


def _stream(cell, name):
    return "".join(o.text for o in cell.get("outputs", [])
                   if o.output_type == "stream" and o.name == name)


def _guards(source):
    """The argument names of each `grader.done(...)` call in a cell, in order."""
    return [[arg.strip() for arg in match.group("args").split(",") if arg.strip()]
            for match in GUARD.finditer(source)]


def _expected_finish_lines(source, solved):
    lines = []
    for names in _guards(source):
        missing = [name for name in names if name not in solved]
        if missing:
            quoted = [f"`{name}`" for name in missing]
            listed = quoted[0] if len(quoted) == 1 else (
                ", ".join(quoted[:-1]) + " and " + quoted[-1])
            lines.append(f"finish {listed} above to see this")
    return lines


@pytest.mark.slow
def test_no_cell_raises_in_any_run(run_all):
    """Does every run, untouched or with one exercise solved, reach the end without an error?"""
    errors = [(name, cell.metadata["index"], output.ename, output.evalue[:200])
              for name, cells in run_all["runs"].items() for cell in cells
              for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors, errors


@pytest.mark.slow
def test_every_graded_cell_shows_its_score_in_every_run(run_all):
    """Does each graded cell end with its score, a number in [0, points], in every run?"""
    for name, cells in run_all["runs"].items():
        graded = [cell for cell in cells if _is_graded(cell)]
        assert graded, name
        for cell in graded:
            results = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert len(results) == 1, (name, _grade_id(cell), cell.outputs)
            score = float(results[0].data["text/plain"])
            assert 0.0 <= score <= cell.metadata["nbgrader"]["points"], (name, _grade_id(cell))


@pytest.mark.slow
def test_untouched_exercises_are_reported_as_not_attempted(run_all):
    """Does the untouched notebook score 0 everywhere, each check saying "not attempted yet"?"""
    for cell in run_all["runs"][UNTOUCHED]:
        if not _is_graded(cell):
            continue
        result = next(o for o in cell.outputs if o.output_type == "execute_result")
        assert float(result.data["text/plain"]) == pytest.approx(0.0, abs=1e-9)
        feedback = "".join(o.data.get("text/plain", "") for o in cell.outputs
                           if o.output_type == "display_data")
        assert "not attempted yet" in feedback, (_grade_id(cell), feedback)


@pytest.mark.slow
def test_demonstrations_run_exactly_when_their_exercises_are_done(run_all):
    """Does each guarded cell print "finish ..." for, and only for, its unfinished exercises?"""
    guarded = 0
    for name, cells in run_all["runs"].items():
        solved = set() if name == UNTOUCHED else {name}
        for cell in cells:
            if _is_answer(cell) or _is_graded(cell):
                continue
            printed = [line for line in _stream(cell, "stdout").splitlines()
                       if FINISH_LINE.match(line)]
            assert printed == _expected_finish_lines(cell.source, solved), (
                name, cell.metadata["index"], cell.source[:300])
            guarded += bool(_guards(cell.source))
    assert guarded, "no demonstration is guarded by grader.done"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_demonstrations_using_an_exercise_are_guarded(chapter):
    """Does every code cell that calls a student's function or class guard it with done()?"""
    cells = [c for c in _read("assignments", chapter).cells if c.cell_type == "code"]
    exercise_names = {_grade_id(c) for c in cells if _is_answer(c)}
    guarded_cells = 0
    for index, cell in enumerate(cells):
        if _is_answer(cell) or _is_graded(cell):
            continue
        python = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
        called = {node.func.id for node in ast.walk(ast.parse(python))
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        used = called & exercise_names
        guarded = {name for names in _guards(cell.source) for name in names}
        assert used <= guarded, (index, sorted(used - guarded))
        guarded_cells += bool(guarded)
    assert guarded_cells, "no demonstration is guarded by grader.done"


@pytest.mark.slow
def test_first_cell_writes_nothing_to_stderr(run_all):
    """Does the first cell of the released notebook, in a new kernel on CPU, keep stderr empty?"""
    first = run_all["runs"][UNTOUCHED][0]
    assert "grader.quiet_tensorflow()" in first.source
    assert first.get("outputs"), "the first cell printed nothing (not even the device)"
    assert _stream(first, "stderr") == "", _stream(first, "stderr")
