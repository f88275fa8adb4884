"""One module per exercise, each defining only ``check(learner, t)``.

Titles, hints, time limits and the course order live in ../exercises.toml.
"""
