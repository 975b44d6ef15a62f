# The two entry points a newcomer needs; both set up .venv on first use.
PY := .venv/bin/python

.PHONY: setup demo test lint
setup:
	@scripts/bootstrap

demo: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py vod2strm demo --reset
	$(PY) manage.py vod2strm generate

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check vod2strm tests bench
	$(PY) -m ruff format --check vod2strm tests bench
	$(PY) -m mypy
