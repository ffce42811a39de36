"""The judge's verdicts in a graded notebook: the outputs nbgrader scores.

nbgrader scores a graded code cell from its outputs (`nbgrader.utils.
determine_grade`): the first error or stderr output gives 0, the first
``execute_result`` whose text is a number gives that many points, and a cell
with neither gets full points. Under autograde the kernel's outputs are the
student's, so they never decide: `graded_outputs` puts the judge's verdict
first, as the cell's only ``execute_result``, and keeps the kernel's own
outputs after it for the student to read, with any ``execute_result`` of
theirs turned into a plain display. A graded cell with no verdict gets a
verdict of 0 ("not judged"), never nbgrader's full credit for no output.

When the score the kernel's own check printed differs from what the judge
computed on the same public cases, `disagreement` says so; the report and
the feedback flag the submission for the instructor.
"""

import html

import nbformat

from grader.feedback import format_html, format_text

__all__ = [
    "SCORE_ATOL",
    "disagreement",
    "graded_outputs",
    "kernel_score",
    "not_judged",
    "verdict_output",
]

# Two scores closer than this are the same (scores are rounded to 4 decimals).
SCORE_ATOL = 5.1e-5
# Output metadata key marking the judge's verdict.
VERDICT_KEY = "kerasdl_verdict"


def not_judged(exercise, points, reason):
    """A zero verdict for a graded cell the judge could not grade."""
    from grader.judge.verdict import Verdict

    return Verdict(exercise, 0.0, points, message=f"not judged: {reason}")


def verdict_output(verdict, flag=None):
    """The ``execute_result`` output carrying the judge's score and feedback."""
    score = verdict.as_score()
    note = "Graded by the course's grader (outside your notebook's kernel)."
    if flag:
        note += f" Note: {flag}."
    return nbformat.v4.new_output(
        "execute_result",
        data={
            "text/plain": repr(float(score)),
            "text/html": f"<p><i>{html.escape(note)}</i></p>{format_html(score)}",
            "text/markdown": f"*{note}*\n\n```\n{format_text(score)}\n```",
        },
        metadata={VERDICT_KEY: {"exercise": verdict.exercise, "flag": flag}},
        execution_count=None,
    )


def kernel_score(outputs):
    """The number the kernel's own check printed as the cell's result, or None."""
    for output in outputs:
        if output.get("output_type") == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            try:
                return float(str(text).strip())
            except ValueError:
                return None
    return None


def _kernel_errored(outputs):
    return any(o.get("output_type") == "error" for o in outputs)


def disagreement(verdict, outputs):
    """Why the kernel's own result disagrees with the judge's, or None.

    Compares the number the kernel printed with the judge's score on the
    same (public) cases. A kernel that printed nothing although its cell ran
    without error is a disagreement too (nbgrader would have given full
    credit to that cell). When the judge graded no public case (an object
    that is missing, a reference call, a stub), any printed number above the
    judge's score is one: the kernel claimed points the code did not earn.
    """
    printed = kernel_score(outputs)
    if verdict.public_score is None or verdict.message:
        if printed is not None and printed > float(verdict.score) + SCORE_ATOL:
            return (f"kernel output disagrees with the grader: the notebook printed "
                    f"{printed:g}, the grader gave {float(verdict.score):g}")
        return None
    if printed is None:
        if _kernel_errored(outputs):
            return None
        return "the notebook's own check printed no score"
    if abs(printed - verdict.public_score) > SCORE_ATOL:
        return (f"kernel output disagrees with the grader: the notebook printed "
                f"{printed:g}, the grader computed {verdict.public_score:g} on the same "
                "public cases")
    return None


def _is_kernel_table(output):
    """Whether a kernel output is its own check's feedback table (a display)."""
    return (output.get("output_type") == "display_data"
            and "kerasdl-feedback" in str(output.get("data", {}).get("text/html", "")))


def graded_outputs(kernel_outputs, verdict):
    """The outputs a graded test cell is scored from: the verdict, then the kernel's.

    The kernel's own check table is left out (the verdict is the one table
    per exercise the student reads); the score the kernel printed stays, as
    plain text, beside the verdict that flags any disagreement with it.
    Everything else the cell printed (streams, errors, other displays) is kept.
    """
    flag = disagreement(verdict, kernel_outputs)
    kept = []
    for output in kernel_outputs:
        if _is_kernel_table(output):
            continue
        output = nbformat.from_dict(dict(output))
        if output.get("output_type") == "execute_result":
            data = output.get("data", {})
            if kernel_score([output]) is not None:  # the kernel's Score: its number only
                data = {"text/plain": data.get("text/plain", "")}
            output = nbformat.v4.new_output("display_data", data=data,
                                            metadata=output.get("metadata", {}))
        kept.append(output)
    return [verdict_output(verdict, flag)] + kept, flag
