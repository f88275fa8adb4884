"""Inputs that change on every run of a check, and can be repeated on demand.

A check that always sends "Ada" can be passed by code that only works for "Ada".
So checks draw their inputs from a random generator seeded once per run:

    with seeded(t) as rng:
        name = rng.choice(NAMES)
        ...

When a step fails, its report ends with the seed, and setting
``COURSE_CHECK_SEED=<seed>`` runs the check again with the very same inputs.
Step names never contain drawn values, so a passing report reads the same on
every run (notebooks store it).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

from course_app.grading.checker import Step, T

__all__ = ["AWKWARD_WORDS", "SEED_VARIABLE", "run_seed", "seeded"]

SEED_VARIABLE = "COURSE_CHECK_SEED"

# Words that trip code written for one friendly example: non-ASCII, spaces
# inside and around, punctuation that means something in a URL, and the empty string.
AWKWARD_WORDS = (
    "Zoë", "José María", "Łukasz", "李雷", "Ngozi", "O'Brien", "van Rossum",
    "Ana-Sofía", "Þór", "Dvořák", "A&B", "50% off", "what?", " padded ", "",
)


def run_seed() -> int:
    """The seed for this run: ``COURSE_CHECK_SEED`` when set, a fresh one otherwise."""
    given = os.environ.get(SEED_VARIABLE, "").strip()
    if given.isdigit():
        return int(given)
    return random.SystemRandom().randrange(1, 1_000_000)


@contextmanager
def seeded(t: T) -> Iterator[random.Random]:
    """A generator for this run's inputs; a failed step's report ends with how to repeat them."""
    seed = run_seed()
    try:
        yield random.Random(seed)
    finally:
        if t.steps and not t.steps[-1].ok:
            last = t.steps[-1]
            note = f"(this run's inputs came from seed {seed}: {SEED_VARIABLE}={seed} repeats them)"
            t.steps[-1] = Step(last.name, False, f"{last.detail}\n{note}".strip())
