# On a fresh machine: `make playground` (try it), `make run` and `make test`. All build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test test-browser lint fuzz bench waveform-demo playground playground-screenshot messages clean

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
	$(BIN)/python -m pytest --ignore=tests/browser

test-browser: $(DEV_STAMP)  ## the playground in headless Chromium (apt-get install chromium)
	$(BIN)/python -m pytest tests/browser

playground: $(DEV_STAMP)  ## the bot between the stand-ins, driven from a page on 127.0.0.1
	$(BIN)/python -m playground

playground-screenshot: $(DEV_STAMP)  ## redraw docs/playground.png (the README's picture)
	$(BIN)/python -m playground.screenshot docs/playground.png

fuzz: $(DEV_STAMP)  ## the audio checks against thousands of mutated files (a few minutes)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/unit/core/media/test_media_fuzz.py --timeout=3600

bench: $(DEV_STAMP)  ## the figures in docs/benchmarks.md
	$(BIN)/python -m bench

waveform-demo: $(RUN_STAMP)  ## redraw docs/waveform.png (the picture in docs/commands.md) from a test tone
	$(BIN)/python -m bot.core.media.waveform --demo docs/waveform.png

# Catalogs (docs/languages.md): gettext(locale, "…") and ngettext(locale, "…", "…", n) say the
# language argument first, hence the keywords; locale_str and N_ mark texts said later.
LOCALE_DIR := bot/locale
POT := $(LOCALE_DIR)/bot.pot
KEYWORDS := -k _ -k N_ -k gettext:2 -k ngettext:2,3 -k locale_str -k said -k said_n:1,2

messages: $(RUN_STAMP)  ## after changing texts or a .po: update bot/locale/bot.pot and every .po, then check them
	$(BIN)/pybabel -q extract --no-default-keywords $(KEYWORDS) --mapping-file babel.cfg \
		--sort-by-file --no-location --width 100 --project singing-bot --version 1 \
		--output-file $(POT).extracted bot cogs
	$(BIN)/python -m bot.discord.translator $(POT).extracted $(POT)
	$(BIN)/pybabel -q update --domain bot --input-file $(POT) --output-dir $(LOCALE_DIR) \
		--width 100 --previous --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/python -m bot.core.i18n.check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
