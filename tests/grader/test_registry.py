"""Registry: ids, points, plugin discovery and decorator validation."""

import math
import textwrap

import pandas as pd
import pytest

import grader
from grader.errors import PluginError, UnknownExerciseError
from grader.registry import ENTRY_POINT_GROUP, Registry, exercise
from grader.results import Score
from tests.grader.fixtures.points import chapter_points

# Scores are rounded to 4 decimals; a pass or a fail is exact to this.
SCORE_ATOL = 1e-9

# Points per exercise of chapters 2-6, as fixed by the course.
CHAPTER_2_TO_6_POINTS = chapter_points("ch02_", "ch03_", "ch04_", "ch05_", "ch06_")


def _write_plugin(directory, module, exercise_id, value=1.0):
    (directory / f"{module}.py").write_text(textwrap.dedent(f'''
        from grader.registry import exercise

        def reference(x):
            return x + {value}

        @exercise({exercise_id!r}, chapter="extra", points=1, reference=reference)
        def cases(c):
            """Adds {value}."""
            c.values("scalar", c.tensor(1.0))
        '''))


def test_points_match_the_course_table():
    """Does every chapter 2-6 exercise exist with the course's points?"""
    for exercise_id, expected in CHAPTER_2_TO_6_POINTS.items():
        assert grader.points(exercise_id) == expected, exercise_id


def test_exercises_frame_lists_cases():
    """Does exercises() describe ids, chapters, points and case counts?"""
    frame = grader.exercises()
    assert isinstance(frame, pd.DataFrame)
    assert {"id", "chapter", "points", "public_cases", "hidden_cases"} <= set(frame.columns)
    row = frame.set_index("id").loc["softmax"]
    assert row["chapter"] == "ch04_softmax_regression"
    assert row["points"] == 2
    assert row["public_cases"] == 3
    assert row["hidden_cases"] == 3
    chapter_ids = set(frame.loc[frame["chapter"].str.match(r"ch0[2-6]_"), "id"])
    assert chapter_ids == set(CHAPTER_2_TO_6_POINTS)
    assert (frame["public_cases"] >= 1).all()


def test_unknown_id_raises_with_suggestion():
    """Does an unknown id raise, suggesting the closest registered id?"""
    with pytest.raises(UnknownExerciseError, match="Did you mean 'softmax'"):
        grader.check("sofmax", lambda X: X)
    with pytest.raises(UnknownExerciseError):
        grader.points("no_such_exercise")


def test_misspelt_option_raises():
    """Is a misspelt decorator option an error naming the right option?"""
    with pytest.raises(TypeError, match=r"unknown option 'point' \(did you mean 'points'\?\)"
                                        r".*Received: point=2"):
        exercise("x", chapter="c", point=2, reference=abs)


def test_missing_and_bad_options_raise():
    """Are missing required options and bad values rejected?"""
    with pytest.raises(ValueError, match="needs the option `reference`"):
        exercise("x", chapter="c", points=1)
    with pytest.raises(ValueError, match="Received: points=0"):
        exercise("x", chapter="c", points=0, reference=abs)
    with pytest.raises(ValueError, match="Received: kind='gpu'"):
        exercise("x", chapter="c", points=1, reference=abs, kind="gpu")
    with pytest.raises(TypeError, match="Received: reuses='linreg'"):
        exercise("x", chapter="c", points=1, reference=abs, reuses="linreg")
    with pytest.raises(ValueError, match="Received: exercise_id='not an id'"):
        exercise("not an id", chapter="c", points=1, reference=abs)


def test_duplicate_id_names_both_modules(tmp_path, monkeypatch):
    """Does a duplicate id raise an error naming both plugin modules?"""
    _write_plugin(tmp_path, "kd_dup_one", "dup_exercise")
    _write_plugin(tmp_path, "kd_dup_two", "dup_exercise")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.load_module("kd_dup_one")
    with pytest.raises(PluginError, match="'kd_dup_one' and by module 'kd_dup_two'"):
        registry.load_module("kd_dup_two")


def test_broken_plugin_names_its_module(tmp_path, monkeypatch):
    """Does a plugin that fails to import raise an error naming the module?"""
    (tmp_path / "kd_broken_plugin.py").write_text("raise RuntimeError('oops')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="'kd_broken_plugin' failed to import: "
                                          "RuntimeError: oops"):
        Registry().load_module("kd_broken_plugin")


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    """Is a plugin installed with a kerasdl.grader_plugins entry point registered?"""
    _write_plugin(tmp_path, "kd_extra_plugin", "add_one")
    dist_info = tmp_path / "kd_extra_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: kd-extra-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nextra = kd_extra_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.load_entry_points()
    spec = registry.get("add_one")
    assert spec.module == "kd_extra_plugin"
    assert spec.chapter == "extra"
    from grader.runner import run_exercise

    score = run_exercise(spec, lambda x: x + 1.0, hidden=False)
    assert math.isclose(float(score), 1.0, abs_tol=SCORE_ATOL)


def test_score_is_a_plain_number_within_points():
    """Is a Score's repr a plain number, clamped to [0, points], without HTML?"""
    score = Score(1.23456789, exercise="e", points=2)
    assert repr(score) == "1.2346"
    assert str(score) == "1.2346"
    assert math.isclose(float(Score(5.0, exercise="e", points=2)), 2.0, abs_tol=SCORE_ATOL)
    assert math.isclose(float(Score(-1.0, exercise="e", points=2)), 0.0, abs_tol=SCORE_ATOL)
    assert not hasattr(score, "_repr_html_")
    assert isinstance(score, float)


def test_builtin_checks_cover_every_chapter_module():
    """Is there one built-in plugin module per chapter of chapters 2-6?"""
    frame = grader.exercises()
    modules = set(frame.loc[frame["chapter"].str.match(r"ch0[2-6]_"), "module"])
    assert modules == {
        "grader.checks.ch02_preliminaries", "grader.checks.ch03_linear_regression",
        "grader.checks.ch04_softmax_regression", "grader.checks.ch05_mlp",
        "grader.checks.ch06_regularization", "grader.checks.ch06_numerical_stability",
    }


def test_random_draws_option_must_be_a_bool():
    """Is a non-bool `random_draws` rejected with the value received?"""
    with pytest.raises(TypeError, match="Received: random_draws='yes'"):
        exercise("x", chapter="c", points=1, reference=abs, random_draws="yes")
