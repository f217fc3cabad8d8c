# make run   — set up and run the whole suite locally (Ctrl-C stops it)
# make test  — set up and run the tests
# make demo  — buy a card through the running suite's HTTP API
PACKAGES := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml cli/pyproject.toml)
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: run test test-fast demo dlq-list dlq-replay clean

$(INSTALLED): requirements.lock $(PACKAGES) scripts/bootstrap.sh
	scripts/bootstrap.sh

run: $(INSTALLED)
	scripts/ensure-broker.sh
	$(VENV)/bin/kameng run

test: $(INSTALLED)
	scripts/ensure-broker.sh --postgres
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# everything but the slow whole-suite tests
test-fast: $(INSTALLED)
	scripts/ensure-broker.sh --postgres
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

demo: $(INSTALLED)
	$(VENV)/bin/kameng demo

dlq-list: $(INSTALLED)
	$(VENV)/bin/kameng dlq list

dlq-replay: $(INSTALLED)
	$(VENV)/bin/kameng dlq replay

clean:
	rm -rf $(VENV) .kameng
