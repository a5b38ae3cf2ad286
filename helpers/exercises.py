"""Checks for the notebooks' exercises: each condition of an answer, ticked or not, and a verdict.

An exercise is three cells: the learner's answer (``None`` to start with), a solution used only while
the answer is ``None`` (CI runs it), and a check cell marked ``# NBVAL_CHECK_OUTPUT``, whose committed
output is the solved verdict: a solution that stops solving its exercise fails the tests.
"""


def check_exercise(title: str, **conditions: bool) -> bool:
    """Print ``✓`` or ``✗`` for each named condition of an answer and whether the exercise is solved.

    Example:
        >>> check_exercise("a frame count", comes_back_as_asked=True, about_3_seconds=False)
        exercise: a frame count
          ✓ comes back as asked
          ✗ about 3 seconds
        not yet: change your answer and run the check again
        False
    """
    if not conditions:
        raise ValueError("check_exercise needs at least one condition, e.g. check_exercise('x', fits=peak <= 12)")
    print(f"exercise: {title}")
    for name, passed in conditions.items():
        print(f"  {'✓' if passed else '✗'} {name.replace('_', ' ')}")
    solved = all(conditions.values())
    print("solved" if solved else "not yet: change your answer and run the check again")
    return solved
