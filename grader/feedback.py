"""Feedback on one exercise: one table, as text or (in a notebook kernel) HTML.

Both renderings say the same thing in the same words:

- a head line: ``corr2d: 1.5 / 2 points``;
- then either one line with the reason of a zero that no case explains, shown
  alone (an integrity zero, e.g. the submission called the reference:
  ``0 points: ...``; or an untouched stub: ``not attempted yet``),
- or one row per case: ``PASS`` or ``FAIL``, the case name (``(hidden)``
  before a hidden one) and what was compared and found; the hint of a known
  mistake follows the first failing case that has it, once per exercise.

Hidden cases show their name and verdict only: never the inputs, the
expected values or where the output differed.
"""

import html
import sys

__all__ = ["format_text", "format_html", "show"]

# Width of the case-name column in the text table.
NAME_WIDTH = 32
NOT_ATTEMPTED = ("not attempted yet: your code still raises NotImplementedError, as the "
                 "released stub does (replace `raise NotImplementedError()` with your code)")
PASS_COLOR, FAIL_COLOR = "#1a7f37", "#cf222e"
# Inline styles: the HTML is shown in notebooks and in nbgrader's feedback
# pages, whose style sheets give tables no cell padding.
_CELL_STYLE = ("padding:0.3em 0.8em;text-align:left;vertical-align:top;"
               "border-bottom:1px solid #d0d7de")
_HEAD_STYLE = _CELL_STYLE + ";font-weight:bold;background:#f6f8fa"


def _points(value):
    return f"{float(value):g}"


def _head(score):
    return f"{score.exercise}: {_points(score)} / {_points(score.points)} points"


def _reason(score):
    """The one line that replaces the case table, or None when the cases tell."""
    if score.integrity_message:
        return f"0 points: {score.integrity_message}"
    results = score.results
    # A case may catch the stub's exception itself ("expected ValueError"): the
    # stub is the submission when nothing passed and a case met the stub.
    if any(r.not_attempted for r in results) and not any(r.passed for r in results):
        return NOT_ATTEMPTED
    return None


def _rows(score):
    """`(mark, name, message, hint)` per case; each hint only on its first failing case."""
    shown = set()
    rows = []
    for result in score.results:
        hint = None
        if not result.passed and result.hint and result.hint not in shown:
            shown.add(result.hint)
            hint = result.hint
        name = ("(hidden) " if result.hidden else "") + result.name
        rows.append(("PASS" if result.passed else "FAIL", name, result.message, hint))
    return rows


def format_text(score):
    """Return the feedback of a `Score` as plain text (one line per case).

    Args:
        score: a `grader.Score`.

    Returns:
        str, lines separated by newlines, no trailing newline.
    """
    lines = [_head(score)]
    reason = _reason(score)
    if reason:
        return "\n".join(lines + [f"  {reason}"])
    for mark, name, message, hint in _rows(score):
        lines.append(f"  {mark}  {name:<{NAME_WIDTH}} {message}")
        if hint:
            lines.append(f"        hint: {hint}")
    return "\n".join(lines)


def format_html(score):
    """Return the feedback of a `Score` as an HTML fragment: a head line and one table.

    Args:
        score: a `grader.Score`.

    Returns:
        str, a `<div class="kerasdl-feedback">` with inline styles.
    """
    esc = html.escape
    head = f"<p style='margin:0 0 0.4em 0'><b>{esc(score.exercise)}</b>: " + esc(
        f"{_points(score)} / {_points(score.points)} points") + "</p>"
    reason = _reason(score)
    if reason:
        color = FAIL_COLOR if score.integrity_message else "#57606a"
        body = f"<p class='kerasdl-reason' style='margin:0;color:{color}'>{esc(reason)}</p>"
    else:
        rows = []
        for mark, name, message, hint in _rows(score):
            color = PASS_COLOR if mark == "PASS" else FAIL_COLOR
            hint_html = (f"<div class='kerasdl-hint' style='margin-top:0.2em;font-style:italic'>"
                         f"hint: {esc(hint)}</div>" if hint else "")
            rows.append(
                f"<tr><td style='{_CELL_STYLE};color:{color};font-weight:bold'>{mark}</td>"
                f"<td style='{_CELL_STYLE}'>{esc(name)}</td>"
                f"<td style='{_CELL_STYLE}'>{esc(message)}{hint_html}</td></tr>"
            )
        body = (
            "<table class='kerasdl-cases' style='border-collapse:collapse;margin:0'>"
            f"<thead><tr><th style='{_HEAD_STYLE}'>result</th><th style='{_HEAD_STYLE}'>case"
            f"</th><th style='{_HEAD_STYLE}'>details</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    return f"<div class='kerasdl-feedback' style='margin:0.3em 0'>{head}{body}</div>"


def _in_kernel():
    """Whether we run inside an IPython kernel (a notebook)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def show(score):
    """Print the feedback (HTML with a text fallback inside a notebook)."""
    text = format_text(score)
    if _in_kernel():
        from IPython.display import display

        display({"text/plain": text, "text/html": format_html(score)}, raw=True)
    else:
        print(text, file=sys.stdout)
