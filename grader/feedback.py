"""Feedback: one line per case, as text or (in a notebook kernel) HTML.

Hidden cases show their name and verdict only: never the inputs, the
expected values or where the output differed.
"""

import html
import sys

__all__ = ["format_text", "format_html", "show"]

# Width of the case-name column in the text table.
NAME_WIDTH = 28


def _case_line(result):
    return result.message


def _points(value):
    return f"{float(value):g}"


def format_text(score):
    """Return the feedback of a `Score` as plain text."""
    head = f"{score.exercise}: {_points(score)} / {_points(score.points)} points"
    lines = [head]
    if score.integrity_message:
        lines.append(f"  0 points: {score.integrity_message}")
    for result in score.results:
        mark = "PASS" if result.passed else "FAIL"
        name = ("(hidden) " if result.hidden else "") + result.name
        lines.append(f"  {mark}  {name:<{NAME_WIDTH}} {_case_line(result)}")
        if result.hint and not result.passed:
            lines.append(f"        hint: {result.hint}")
    return "\n".join(lines)


def format_html(score):
    """Return the feedback of a `Score` as an HTML table."""
    esc = html.escape
    rows = []
    for result in score.results:
        color = "#1a7f37" if result.passed else "#cf222e"
        mark = "pass" if result.passed else "FAIL"
        name = ("(hidden) " if result.hidden else "") + result.name
        hint = (f"<br><i>hint: {esc(result.hint)}</i>"
                if result.hint and not result.passed else "")
        rows.append(
            f"<tr><td style='color:{color};font-weight:bold'>{mark}</td>"
            f"<td>{esc(name)}</td><td style='text-align:left'>"
            f"{esc(_case_line(result))}{hint}</td></tr>"
        )
    integrity = (f"<p style='color:#cf222e'>0 points: {esc(score.integrity_message)}</p>"
                 if score.integrity_message else "")
    return (
        f"<div><b>{esc(score.exercise)}</b>: {_points(score)} / "
        f"{_points(score.points)} points{integrity}"
        f"<table>{''.join(rows)}</table></div>"
    )


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
