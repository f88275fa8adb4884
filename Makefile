# Every target sets up .venv first when it is missing (or pyproject/constraints changed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-installed
PORT   ?= 8000
WORKERS ?= 1
# Tests run in parallel: the suite mostly waits on sockets and timers (set JOBS=1 to run one at a time).
JOBS   ?= 4
# .venv/bin first on PATH: `course` works in JupyterLab's terminals and in `!course` cells.
export PATH := $(abspath $(BIN)):$(PATH)
# JupyterLab refuses to run as root without this flag (containers, CI).
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: setup lab test test-fast check bench serve doctor clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)
	@echo "Setup done. Next: make lab"

# Opens on the welcome notebook, with the whole course (exercises/ too) in the file browser.
lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb $(LAB_ARGS)

NBVAL := --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300

# The whole suite; the notebooks run twice each in one kernel (tests/test_notebooks_run.py), their
# check cells against solutions/ (COURSE_SOLUTIONS=1) and compared with the stored reports as nbval does.
test: $(STAMP)
	COURSE_SOLUTIONS=1 $(BIN)/python -m pytest tests -n $(JOBS) --dist loadgroup

# The fast part of the suite: everything but notebooks, browsers and clusters.
test-fast: $(STAMP)
	COURSE_SOLUTIONS=1 $(BIN)/python -m pytest tests -m "not slow" -n $(JOBS) --dist loadgroup

# Grade YOUR exercise files through the notebooks' check cells (nbval). A failing check prints its
# report (notebooks/conftest.py), and a cell that makes the server crash fails.
check: $(STAMP)
	COURSE_SOLUTIONS=0 $(BIN)/python -m pytest notebooks $(NBVAL)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

serve: $(STAMP)
	$(BIN)/course serve --port $(PORT) --workers $(WORKERS)

doctor: $(STAMP)
	$(BIN)/course doctor

clean:
	rm -rf $(VENV) .pytest_cache .course
