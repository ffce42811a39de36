"""The registered exercises as a table (`kerasdl-grade exercises`)."""

__all__ = ["exercise_table"]


def exercise_table():
    """The registered exercises as a pandas table: ``chapter``, ``exercise``, ``points``."""
    import grader

    table = grader.exercises()
    table = table.rename(columns={"id": "exercise"})[["chapter", "exercise", "points"]]
    return table.sort_values("chapter", kind="stable").reset_index(drop=True)
