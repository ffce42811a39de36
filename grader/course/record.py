"""The record phase: one trusted process writes every result into the gradebook.

`Recorder.grade` prepares the submissions (`grader.course.submissions`),
sends the valid ones to the grading workers (`grader.course.cluster`) and,
as each result arrives, records it with nbgrader's own autograde pipeline in
this process (`nbgrader.apps.NbGraderAPI.autograde`), its execution step being
`grader.course.preprocessors.ReplayExecute`. Nothing a worker sends is
trusted blindly: notebooks are parsed by nbformat and must match the
submission cell for cell, verdicts are plain JSON. A submission nbgrader
cannot record keeps its previous autograded notebook and is marked *not
graded* with nbgrader's log beside the reports.
"""

import dataclasses
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

from grader.course.status import GRADED, GRADED_WITH_ERRORS, NOT_GRADED, cell_scores

__all__ = ["RunContext", "Recorder"]

# Lines of nbgrader's log kept in a not-graded reason.
_LOG_TAIL = 6


@dataclasses.dataclass
class RunContext:
    """What every part of one autograde run shares."""

    assignment: str
    run_id: str
    secret: int
    coursedir: object
    config: object
    store: object
    cell_timeout: float | None
    notebook_timeout: float | None
    sandbox: dict | None
    progress: bool
    num_gpus: int
    worker_env: dict


class Recorder:
    """Prepares, dispatches and records one run's submissions.

    Args:
        run: the `RunContext`.
        work: a private folder for executed notebooks and verdicts.
        fingerprints: student -> hash of the submitted files.
    """

    def __init__(self, run, work, fingerprints):
        self.run = run
        self.work = Path(work)
        self.fingerprints = fingerprints
        self.executed_dir = self.work / "executed"
        self.executed_dir.mkdir(parents=True, exist_ok=True)
        self._api = None

    # The three steps ----------------------------------------------------------

    def grade(self, students, cluster):
        """Grade `students` on `cluster` (a `PendingCluster`); returns
        ``{student: AutogradeOutcome}``."""
        from grader.course.submissions import NotGraded, prepare_submission, source_grade_ids

        run = self.run
        outcomes, prepared = {}, {}
        known = source_grade_ids(run.coursedir, run.assignment)
        for student in students:
            try:
                prepared[student] = prepare_submission(
                    run.coursedir, run.config, run.assignment, student, known)
            except NotGraded as reason:
                outcomes[student] = self._not_graded(student, str(reason))
        if prepared:
            outcomes.update(self._dispatch(prepared, cluster.result()))
        return outcomes

    def _dispatch(self, prepared, cluster):
        from distributed import as_completed
        from tqdm.auto import tqdm

        from grader.course.job import Job, execute_submission

        run = self.run
        outcomes = {}
        if run.progress:
            where = f" (dashboard {cluster.dashboard})" if cluster.dashboard else ""
            print(f"autograde {run.assignment}: {len(prepared)} submissions on "
                  f"{cluster.description}{where}", file=sys.stderr)
        futures = {}
        for student, submission in prepared.items():
            job = Job(run.assignment, student, submission.notebooks, run.secret,
                      cell_timeout=run.cell_timeout, notebook_timeout=run.notebook_timeout,
                      sandbox=run.sandbox, env={**cluster.kernel_env, **run.worker_env},
                      num_gpus=run.num_gpus)
            key = f"autograde-{run.assignment}-{student}-{run.run_id}"
            futures[cluster.submit(execute_submission, job, key=key)] = student
        start = time.perf_counter()
        bar = tqdm(total=len(futures), desc=f"autograde {run.assignment}",
                   unit="submission", disable=not run.progress, file=sys.stderr)
        try:
            for done, future in enumerate(as_completed(futures), start=1):
                student = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # noqa: BLE001 (a worker's failure)
                    outcome = self._not_graded(
                        student, f"the grading worker failed: {type(error).__name__}: "
                                 f"{str(error)[:200]}")
                else:
                    outcome = self._record(student, result)
                outcomes[student] = outcome
                per_minute = done / max(time.perf_counter() - start, 1e-9) * 60
                bar.set_postfix_str(f"{per_minute:.1f}/min, last {student}")
                bar.update()
        finally:
            bar.close()
            for future in futures:
                future.cancel()
        return outcomes

    # Recording ----------------------------------------------------------------

    @property
    def api(self):
        """nbgrader's API with `ReplayExecute` as the autograde execution step."""
        if self._api is None:
            import copy

            from nbgrader.apps import NbGraderAPI

            config = copy.deepcopy(self.run.config)
            config.Autograde.autograde_preprocessors = [
                "grader.course.preprocessors.ReplayExecute",
                "nbgrader.preprocessors.IgnorePattern",
                "nbconvert.preprocessors.ClearMetadataPreprocessor",
                "nbgrader.preprocessors.LimitOutput",
                "nbgrader.preprocessors.SaveAutoGrades",
                "nbgrader.preprocessors.AssignLatePenalties",
                "nbgrader.preprocessors.CheckCellMetadata",
            ]
            config.ReplayExecute.executed_dir = str(self.executed_dir)
            self._api = NbGraderAPI(coursedir=self.run.coursedir, config=config)
        return self._api

    def _write_result(self, student, result):
        """Executed notebooks and verdicts, as `ReplayExecute` reads them."""
        import nbformat

        folder = self.executed_dir / student
        folder.mkdir(parents=True, exist_ok=True)
        notebooks = {}
        for name, data in result.notebooks.items():
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.write(nb, folder / f"{name}.ipynb")
            notebooks[name] = nb
            verdicts = result.verdicts.get(name, {})
            (folder / f"{name}.verdicts.json").write_text(json.dumps(verdicts))
        return notebooks

    def _autograded(self, student):
        coursedir = self.run.coursedir
        return Path(coursedir.format_path(coursedir.autograded_directory, student,
                                          self.run.assignment))

    def _record(self, student, result):
        from nbgrader.api import Gradebook

        from grader.course.autograder import AutogradeOutcome

        run = self.run
        if result.error:
            return self._not_graded(student, f"the job could not run: {result.error}",
                                    isolation=result.isolation)
        try:
            notebooks = self._write_result(student, result)
        except Exception as error:  # noqa: BLE001 (a malformed result)
            return self._not_graded(student, f"the grading worker sent back an unreadable "
                                             f"notebook ({type(error).__name__})")
        with Gradebook(run.coursedir.db_url, run.coursedir.course_id) as gb:
            before = cell_scores(gb, run.assignment, student)
        previous = self._autograded(student)
        backup = self.work / "previous" / student
        if previous.exists():
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(previous, backup)
        with warnings.catch_warnings():  # nbgrader's own SQLAlchemy session notes
            warnings.simplefilter("ignore")
            recorded = self.api.autograde(run.assignment, student, force=True, create=True)
        if not recorded.get("success"):
            if backup.exists():  # nothing is lost: the previous notebook comes back
                shutil.rmtree(previous, ignore_errors=True)
                shutil.copytree(backup, previous)
            tail = [line for line in (recorded.get("log") or "").splitlines() if line.strip()]
            reason = tail[-1][:200] if tail else "no log"
            return self._not_graded(student, f"nbgrader could not record it ({reason})",
                                    log=recorded.get("log"), isolation=result.isolation)
        with Gradebook(run.coursedir.db_url, run.coursedir.course_id) as gb:
            after = cell_scores(gb, run.assignment, student)
            submission = gb.find_submission(run.assignment, student)
            score, max_score = submission.score, submission.max_score
        run.store.log_changes(run.run_id, run.assignment, student, before, after)
        lost = sorted({index for cells in result.lost_cells.values() for index in cells})
        timed_out = sorted({index for cells in result.timed_out_cells.values()
                            for index in cells})
        errors = []
        if result.notebook_timeout:
            errors.append("the notebook ran out of time")
        if lost:
            errors.append(f"{len(lost)} cell(s) lost the kernel or did not run")
        if timed_out:
            errors.append(f"{len(timed_out)} cell(s) timed out")
        flags = _flags(notebooks, result.verdicts)
        state = GRADED_WITH_ERRORS if errors else GRADED
        reason = "; ".join(errors) or None
        run.store.set(run.assignment, student, state=state, reason=reason, flags=flags,
                      isolation=result.isolation, fingerprint=self.fingerprints.get(student),
                      run_id=run.run_id)
        return AutogradeOutcome(student, state, reason=reason, score=score,
                                max_score=max_score, flags=flags, lost_cells=lost,
                                notebook_timeout=result.notebook_timeout,
                                seconds=result.seconds, isolation=result.isolation)

    def _not_graded(self, student, reason, *, log=None, isolation=None):
        from grader.course.autograder import AutogradeOutcome

        run = self.run
        if log:
            folder = Path(run.coursedir.root) / "reports" / run.assignment / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{student}.log").write_text(log)
        run.store.set(run.assignment, student, state=NOT_GRADED, reason=reason,
                      isolation=isolation, fingerprint=self.fingerprints.get(student),
                      run_id=run.run_id)
        from nbgrader.api import Gradebook

        # The student is known to the gradebook (no submission recorded), so the
        # report lists them, as "not graded", beside everyone else.
        with Gradebook(run.coursedir.db_url, run.coursedir.course_id) as gb:
            gb.update_or_create_student(student)
        return AutogradeOutcome(student, NOT_GRADED, reason=reason, isolation=isolation or "")


def _flags(notebooks, verdicts):
    """The disagreements between kernels' own outputs and the judge, one line each."""
    from grader.course.verdicts import disagreement
    from grader.judge.verdict import Verdict

    flags = []
    for name, nb in notebooks.items():
        for index, data in sorted(verdicts.get(name, {}).items(), key=lambda kv: int(kv[0])):
            verdict = Verdict.from_json(data)
            cell_index = int(index)
            if 0 <= cell_index < len(nb.cells):
                flag = disagreement(verdict, nb.cells[cell_index].get("outputs", []))
                if flag:
                    flags.append(f"{verdict.exercise}: {flag}")
    return flags

