"""Does the HTML feedback a student receives read well in a real browser?

A small temporary course (`ch02_preliminaries`) gets three submissions:
`good` (the instructor's answers), `wrong` (a known mistake whose hint applies
to several cases, a missing root, and a call into the `kerasdl` reference) and
`unfinished` (the released notebook, untouched). They are graded and their
feedback written with the course's public commands, ``kerasdl-grade
autograde`` and ``kerasdl-grade feedback``. Each feedback page is then opened
in headless Chromium (Debian package `chromium`): a screenshot of the whole
page is saved, and a small script run in the page reports the boxes of every
piece of visible text, so the test can assert that no two overlap, that each
exercise has its table (or its one-line reason) with padded cells, that the
table of contents names the exercises and that the maths is drawn as MathML
without any network access. The screenshots are kept in the test's temporary
folder (``KERASDL_FEEDBACK_SCREENSHOTS=DIR`` copies them to DIR).
"""

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbcourse import BIN_DIR, ROOT, nbgrader_environ

from grader.demo import solution_code

CHAPTER = "ch02_preliminaries"
STUDENTS = ("good", "wrong", "unfinished")
TIMESTAMP = "2024-05-01 12:00:00.000000 UTC"
CHROMIUM = shutil.which("chromium")
# The flags that run Chromium here: no sandbox (root), no GPU, no network or
# first-run chatter, a fresh profile each time.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")
PAGE_WIDTH = 1200
# Two text boxes overlap when they share more than this many pixels across and
# more than this share of the shorter box's height (glyph boxes of neighbouring
# lines may touch by a pixel).
OVERLAP_MIN_WIDTH_PX = 2.0
OVERLAP_MIN_HEIGHT_SHARE = 0.25
COMMAND_TIMEOUT_SECONDS = 600

WRONG_ANSWERS = {
    # Mean imputation replaced by zeros: the hint applies to both public cases.
    "preprocess": '''def preprocess(df):
    """Zero-impute numeric columns and one-hot encode the others."""
    df = df.copy()
    numeric = df.select_dtypes(include="number").columns
    df[numeric] = df[numeric].fillna(0)
    return pd.get_dummies(df, dummy_na=True).astype("float64")
''',
    # The p-th root forgotten.
    "lp_norm": '''def lp_norm(x, p):
    """The l_p norm, without the root."""
    return tf.reduce_sum(tf.abs(x) ** p)
''',
    # The reference called: an integrity zero.
    "squared_error_grad": '''def squared_error_grad(x, w, y):
    """Delegates to the course's reference."""
    return kerasdl.squared_error_grad(x, w, y)
''',
}

# Run in the page once it has loaded: the visible text boxes, what the test
# checks, and the page height, written into a <pre id="layout-report">.
PROBE = r"""
<script>
window.addEventListener("load", function () {
  function visible(el) {
    for (var e = el; e && e.nodeType === 1; e = e.parentElement) {
      var s = getComputedStyle(e);
      if (s.visibility === "hidden" || s.display === "none" || s.opacity === "0") return false;
    }
    return true;
  }
  function box(r, id, text) {
    return {id: id, text: text.slice(0, 40), left: r.left + scrollX, top: r.top + scrollY,
            right: r.right + scrollX, bottom: r.bottom + scrollY};
  }
  var boxes = [], id = 0, node;
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while ((node = walker.nextNode())) {
    var el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest("math, script, style, #layout-report")
        || !visible(el)) continue;
    var range = document.createRange();
    range.selectNodeContents(node);
    var rects = range.getClientRects();
    for (var i = 0; i < rects.length; i++) {
      if (rects[i].width > 0.5 && rects[i].height > 0.5) {
        boxes.push(box(rects[i], id, node.textContent));
      }
    }
    id++;
  }
  var maths = document.querySelectorAll("math");
  var drawnMaths = 0;
  maths.forEach(function (m) {
    var r = m.getBoundingClientRect();
    if (r.width > 0.5 && r.height > 0.5) { drawnMaths++; boxes.push(box(r, id++, m.textContent)); }
  });
  boxes.sort(function (a, b) { return a.top - b.top; });
  var overlaps = [];
  for (var i = 0; i < boxes.length; i++) {
    for (var j = i + 1; j < boxes.length && boxes[j].top < boxes[i].bottom; j++) {
      var a = boxes[i], b = boxes[j];
      if (a.id === b.id) continue;
      var w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      var h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      var shorter = Math.min(a.bottom - a.top, b.bottom - b.top);
      if (w > %(min_width)s && h > %(min_share)s * shorter) overlaps.push([a, b]);
    }
  }
  var caseTables = document.querySelectorAll("table.kerasdl-cases");
  var tables = Array.prototype.map.call(caseTables, function (t) {
    var cell = t.querySelector("td");
    var s = getComputedStyle(cell);
    return {exercise: t.parentElement.querySelector("b").textContent,
            marks: Array.prototype.map.call(t.querySelectorAll("tbody tr td:first-child"),
                                            function (td) { return td.textContent; }),
            hints: Array.prototype.map.call(t.querySelectorAll(".kerasdl-hint"),
                                            function (h) { return h.textContent; }),
            padding: [parseFloat(s.paddingLeft), parseFloat(s.paddingTop)]};
  });
  var cellPaddings = Array.prototype.map.call(
    document.querySelectorAll(".output_area td, .output_area th"), function (c) {
      var s = getComputedStyle(c);
      return Math.min(parseFloat(s.paddingLeft), parseFloat(s.paddingRight)); });
  var report = {
    minCellPadding: cellPaddings.length ? Math.min.apply(null, cellPaddings) : null,
    overlaps: overlaps.slice(0, 10),
    textBoxes: boxes.length,
    toc: Array.prototype.map.call(document.querySelectorAll("#toc li"), function (li) {
      return li.textContent.replace(/\s+/g, " ").trim(); }),
    tables: tables,
    reasons: Array.prototype.map.call(document.querySelectorAll(".kerasdl-reason"), function (p) {
      return {exercise: p.parentElement.querySelector("b").textContent, text: p.textContent}; }),
    maths: maths.length,
    drawnMaths: drawnMaths,
    rawTex: Array.prototype.filter.call(document.querySelectorAll(".text_cell_render"),
      function (c) { return /\$[^$]+\$/.test(c.textContent); }).length,
    height: Math.ceil(document.documentElement.scrollHeight)
  };
  var pre = document.createElement("pre");
  pre.id = "layout-report";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});
</script>
""" % {"min_width": OVERLAP_MIN_WIDTH_PX, "min_share": OVERLAP_MIN_HEIGHT_SHARE}


def _kerasdl_grade(*args, course):
    process = subprocess.run(
        [str(BIN_DIR / "kerasdl-grade"), *args, "--course", str(course)],
        env=nbgrader_environ(), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS)
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    return process.stdout


def _submission(course, released, answers):
    notebook = nbformat.from_dict(released)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return notebook


@pytest.fixture(scope="module")
def feedback_pages(tmp_path_factory):
    """Grades the three submissions with kerasdl-grade; returns {student: feedback HTML path}."""
    from grader.demo import build_course

    course = build_course(tmp_path_factory.mktemp("course"), [CHAPTER])
    released = nbformat.read(course / "assignments" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    solution = nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", 4)
    good = {c.metadata["nbgrader"]["grade_id"]: solution_code(c) for c in solution.cells
            if c.metadata.get("nbgrader", {}).get("solution")}
    for student, answers in (("good", good), ("wrong", WRONG_ANSWERS), ("unfinished", {})):
        folder = course / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        nbformat.write(_submission(course, released, answers), folder / f"{CHAPTER}.ipynb")
        (folder / "timestamp.txt").write_text(TIMESTAMP)
    _kerasdl_grade("autograde", CHAPTER, "--jobs", "2", "--no-progress", course=course)
    _kerasdl_grade("feedback", CHAPTER, course=course)
    return {student: course / "feedback" / student / CHAPTER / f"{CHAPTER}.html"
            for student in STUDENTS}


def _chromium(*args, tmp_path):
    profile = Path(tmp_path) / f"profile-{len(list(Path(tmp_path).iterdir()))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def _layout(page, tmp_path):
    """The probe's report on an HTML file, from Chromium's --dump-dom."""
    probe_page = Path(tmp_path) / f"probe-{page.name}"
    probe_page.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                          encoding="utf-8")
    dumped = _chromium("--virtual-time-budget=10000", f"--window-size={PAGE_WIDTH},900",
                       "--dump-dom", probe_page.as_uri(), tmp_path=tmp_path)
    match = re.search(r'<pre id="layout-report">(.*?)</pre>', dumped.stdout, re.S)
    assert match, dumped.stderr[-2000:]
    return json.loads(html.unescape(match.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium is not installed")
def test_probe_sees_overlapping_text_raw_tex_and_unpadded_cells(tmp_path):
    """Does the layout probe report what the feedback tests must catch (so they can fail)?"""
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><div class='text_cell_render'><p>Formula $x^2$ left as TeX.</p></div>"
        "<p>first line of text</p><p style='position:relative;top:-1.5em'>second line of text</p>"
        "<div class='output_area'><table><tr><td style='padding:0'>pass</td>"
        "<td style='padding:0'>notes' 3x3 input</td></tr></table></div></body></html>")
    report = _layout(page, tmp_path)
    assert report["overlaps"], report
    assert {box["text"] for pair in report["overlaps"] for box in pair} == {
        "first line of text", "second line of text"}
    assert report["rawTex"] == 1
    assert report["minCellPadding"] == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def rendered(feedback_pages, tmp_path_factory):
    """{student: (layout report, screenshot path)} from headless Chromium."""
    if CHROMIUM is None:
        pytest.skip("Debian package chromium is not installed (make data installs it)")
    work = tmp_path_factory.mktemp("chromium")
    results = {}
    for student, page in feedback_pages.items():
        report = _layout(page, work)
        screenshot = work / f"feedback-{student}.png"
        _chromium(f"--window-size={PAGE_WIDTH},{min(report['height'], 16000)}",
                  f"--screenshot={screenshot}", page.as_uri(), tmp_path=work)
        assert screenshot.exists() and screenshot.stat().st_size > 10_000
        results[student] = (report, screenshot)
    keep = os.environ.get("KERASDL_FEEDBACK_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for _, screenshot in results.values():
            shutil.copy(screenshot, keep)
    return results


@pytest.mark.slow
def test_feedback_pages_load_nothing_from_the_network(feedback_pages):
    """Is each page self-contained: no remote script, style sheet or MathJax?"""
    for page in feedback_pages.values():
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(?:script|link)[^>]+(?:src|href)=[\"']https?://", text)
        assert "MathJax" not in text


@pytest.mark.slow
@pytest.mark.parametrize("student", STUDENTS)
def test_no_text_overlaps(rendered, student):
    """Does no piece of visible text (maths included) overlap another in the page?"""
    report, _ = rendered[student]
    assert report["textBoxes"] > 100
    assert report["overlaps"] == [], report["overlaps"]


@pytest.mark.slow
@pytest.mark.parametrize("student", STUDENTS)
def test_every_output_table_cell_is_padded(rendered, student):
    """Do the cells of every output table (feedback tables, data frames) have side padding?"""
    report, _ = rendered[student]
    assert report["minCellPadding"] is not None
    assert report["minCellPadding"] >= 3.0, report["minCellPadding"]


@pytest.mark.slow
@pytest.mark.parametrize("student", STUDENTS)
def test_contents_name_each_exercise(rendered, student):
    """Does the table of contents name the exercise of each test cell, with its score?"""
    report, _ = rendered[student]
    assert [entry.split(" (Score")[0] for entry in report["toc"]] == [
        "Test of preprocess", "Test of lp_norm", "Test of squared_error_grad"]


@pytest.mark.slow
@pytest.mark.parametrize("student", STUDENTS)
def test_maths_is_drawn_offline(rendered, student):
    """Is every formula MathML drawn by the browser, with no raw LaTeX left?"""
    report, _ = rendered[student]
    assert report["maths"] >= 5
    assert report["drawnMaths"] == report["maths"]
    assert report["rawTex"] == 0


@pytest.mark.slow
def test_good_submission_has_one_padded_table_of_passes_per_exercise(rendered):
    """Does each exercise show one table with padded cells, every case PASS?"""
    report, _ = rendered["good"]
    assert [t["exercise"] for t in report["tables"]] == [
        "preprocess", "lp_norm", "squared_error_grad"]
    for table in report["tables"]:
        assert table["marks"] and set(table["marks"]) == {"PASS"}, table
        assert min(table["padding"]) >= 3.0, table
    assert report["reasons"] == []


@pytest.mark.slow
def test_wrong_submission_shows_each_hint_once_and_the_integrity_zero_alone(rendered):
    """Are hints shown once per exercise, and the reference call a zero with its reason only?"""
    report, _ = rendered["wrong"]
    tables = {t["exercise"]: t for t in report["tables"]}
    assert set(tables) == {"preprocess", "lp_norm"}
    assert tables["preprocess"]["marks"][:2] == ["FAIL", "FAIL"]
    assert len(tables["preprocess"]["hints"]) == 1, tables["preprocess"]
    assert "FAIL" in tables["lp_norm"]["marks"]
    assert len(tables["lp_norm"]["hints"]) == len(set(tables["lp_norm"]["hints"])) >= 1
    [reason] = report["reasons"]
    assert reason["exercise"] == "squared_error_grad"
    assert reason["text"].startswith("0 points:") and "own implementation" in reason["text"]


@pytest.mark.slow
def test_unfinished_submission_says_not_attempted(rendered):
    """Does each untouched exercise say "not attempted yet" instead of a table of errors?"""
    report, _ = rendered["unfinished"]
    assert report["tables"] == []
    assert [r["exercise"] for r in report["reasons"]] == [
        "preprocess", "lp_norm", "squared_error_grad"]
    assert all(r["text"].startswith("not attempted yet") for r in report["reasons"])
