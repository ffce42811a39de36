"""nbgrader's HTML feedback without the hidden tests, readable offline.

`generate_feedback` runs ``nbgrader generate_feedback`` with two changes:

- `ScrubHiddenTests` in its pipeline removes hidden tests and their tracebacks
  (nbgrader 0.9 keeps them);
- `FeedbackExporter` renders the page: nbgrader's feedback template whose
  table of contents names the exercise of each test cell (nbgrader writes
  "Test cell" for every one), with the notebook's LaTeX maths converted to
  MathML when the page is made. Browsers draw MathML themselves, so the maths
  shows without network access: nbconvert's HTML exporter would load MathJax
  from a CDN at view time and, offline, leave the raw LaTeX on the page.
"""

import glob
import html
import os
import tempfile
from pathlib import Path

from jinja2 import DictLoader, pass_context
from latex2mathml.converter import convert as latex_to_mathml
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import default

from grader.course.coursedir import load_course
from grader.course.process import _nbgrader, _tail

__all__ = ["FeedbackExporter", "generate_feedback"]

# nbgrader's GenerateFeedback pipeline with the hidden tests scrubbed before
# rendering (nbgrader 0.9 keeps them in the feedback by default).
_FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    f"{__package__}.preprocessors.ScrubHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# The page: nbgrader's feedback template (found as "index.html.j2" on the
# template path nbgrader sets up) with its table of contents redone; the rest
# of its body is classic's, reached with `super.super()`.
_FEEDBACK_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- macro score_of(value, points) -%}
(Score: {{ value | float | round(2) }} / {{ points | float | round(2) }})
{%- endmacro -%}
{%- macro cell_score(cell) -%}
{{ score_of(cell.metadata.nbgrader.score, cell.metadata.nbgrader.points) }}
{%- endmacro -%}
{% block body %}
<body>
  <style>
    /* Output tables (data frames) get padding, which nbgrader's page leaves out. */
    div.output_html table { border-collapse: collapse; margin: 0.3em 0; }
    div.output_html th, div.output_html td { padding: 0.25em 0.6em; }
  </style>
  <a name="top"></a>
  <div class="container">
    <div class="panel panel-default">
      <div class="panel-heading">
        <h4>{{ resources.nbgrader.notebook }}
          {{ score_of(resources.nbgrader.score, resources.nbgrader.max_score) }}</h4>
        <div id="toc">
          <ol>
          {% for cell in nb.cells if cell.metadata.nbgrader and cell.metadata.nbgrader.grade %}
            {%- set grade_id = cell.metadata.nbgrader.grade_id -%}
            {%- if not cell.metadata.nbgrader.solution and cell.cell_type == "code" %}
            {%- set exercise = grade_id[5:] if grade_id.startswith("test_") else grade_id %}
            <li><a href="#{{ grade_id }}">Test of <code>{{ exercise }}</code></a>
              {{ cell_score(cell) }}</li>
            {%- elif cell.cell_type == "code" %}
            <li><a href="#{{ grade_id }}">Answer <code>{{ grade_id }}</code></a>
              {{ cell_score(cell) }}</li>
            {%- else %}
            <li><a href="#{{ grade_id }}">Written response <code>{{ grade_id }}</code></a>
              {{ cell_score(cell) }}</li>
            {%- endif %}
          {% endfor %}
          {% if resources.nbgrader.late_penalty > 0 %}
            <li class="late-penalty">Late submission penalty
              (Score: -{{ resources.nbgrader.late_penalty | float | round(2) }})</li>
          {% endif %}
          </ol>
        </div>
      </div>
      <div class="panel-body">
        <div id="notebook" class="border-box-sizing">
          <div class="container" id="notebook-container">
            {{ super.super() }}
          </div>
        </div>
      </div>
    </div>
  </div>
</body>
{%- endblock body %}
"""
# The maths is MathML already: the MathJax loader of nbconvert's templates
# (imported by them as 'mathjax.html.j2') is replaced by one that loads nothing.
_NO_MATHJAX = "{%- macro mathjax(url=None) -%}{%- endmacro -%}"


def _mathml(latex, display):
    try:
        return latex_to_mathml(latex, display=display)
    except Exception:  # LaTeX the converter cannot read: show it as code
        return f"<code>{html.escape(latex)}</code>"


class _MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, writing `$...$` and `$$...$$` as MathML."""

    def inline_math(self, body):
        return _mathml(body, "inline")

    def block_math(self, body):
        return _mathml(body, "block")

    def latex_environment(self, name, body):
        return _mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", "block")


class FeedbackExporter(HTMLExporter):
    """The HTML exporter of `generate_feedback`: exercise names in the contents, MathML maths.

    Loaded by nbgrader as ``--GenerateFeedback.exporter_class``; it keeps the
    template name and paths nbgrader configures (its ``feedback`` template).
    """

    @default("extra_loaders")
    def _extra_loaders_default(self):
        return [DictLoader({"kerasdl_feedback.html.j2": _FEEDBACK_TEMPLATE,
                            "mathjax.html.j2": _NO_MATHJAX})]

    @default("template_file")
    def _template_file_default(self):
        return "kerasdl_feedback.html.j2"

    @pass_context
    def markdown2html(self, context, source):
        """Markdown to HTML, as `HTMLExporter.markdown2html`, with the maths as MathML."""
        cell = context.get("cell", {})
        renderer = _MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


def generate_feedback(assignment, course_dir=".", *, students=None, db_url=None):
    """nbgrader's HTML feedback for `assignment`, with hidden tests scrubbed.

    Runs ``nbgrader generate_feedback --force`` with `ScrubHiddenTests` added
    to its pipeline (see there why nbgrader's default is not enough) and
    `FeedbackExporter` rendering the pages.

    Args:
        assignment: assignment id (already autograded).
        course_dir: course root.
        students: student ids; all autograded students by default.
        db_url: the gradebook's database URL; the course's by default.

    Returns:
        list of the feedback HTML paths (`Path`), sorted.

    Raises:
        ValueError: `db_url` is not a usable database URL (`load_course`).
        RuntimeError: if nbgrader fails; the message holds the end of its log.
    """
    _, coursedir = load_course(course_dir, db_url)
    args = ["generate_feedback", assignment, "--force", f"--CourseDirectory.root={coursedir.root}",
            f"--GenerateFeedback.exporter_class={__name__}.FeedbackExporter"]
    args += [f"--GenerateFeedback.preprocessors={name}" for name in _FEEDBACK_PREPROCESSORS]
    targets = students or ["*"]
    with tempfile.TemporaryDirectory() as tmp:
        for student in targets:
            log_path = Path(tmp) / "feedback.log"
            extra = [] if student == "*" else ["--student", student]
            process = _nbgrader(args + extra, cwd=coursedir.root, log_path=log_path,
                                db_url=coursedir.db_url)
            if process.returncode != 0:
                raise RuntimeError(f"nbgrader generate_feedback failed:\n{_tail(log_path)}")
    paths = []
    for student in targets:
        folder = coursedir.format_path(coursedir.feedback_directory, student, assignment)
        paths += glob.glob(os.path.join(folder, "*.html"))
    return sorted(Path(path) for path in paths)
