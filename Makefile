# Two commands on a fresh machine: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint fuzz bench waveform-demo standins clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)  ## start the bot with the settings in .env
	$(BIN)/python -m bot

lint: $(DEV_STAMP)  ## ruff, mypy and hadolint (the Dockerfile)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: lint  ## lint, then the whole suite (unit and end-to-end through the stand-ins)
	$(BIN)/python -m pytest

fuzz: $(DEV_STAMP)  ## the audio checks against thousands of mutated files (a few minutes)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/unit/test_media_fuzz.py --timeout=3600

bench: $(DEV_STAMP)  ## the figures in the README's Benchmarks section
	$(BIN)/python -m bench

waveform-demo: $(RUN_STAMP)  ## redraw docs/waveform.png (the README's picture) from a test tone
	$(BIN)/python -m bot.media.waveform --demo docs/waveform.png

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
