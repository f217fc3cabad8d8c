# make run   — set up and run the whole suite locally (Ctrl-C stops it)
# make test  — set up and run the tests (all but the slow fault tests; make test-slow runs those)
# make demo  — buy a card and a direct top-up through the running suite's HTTP API (DEMO_ARGS="--method alipay": wechat, unionpay, mockpay)
# make bench — benchmark purchases through the API on SQLite and PostgreSQL, plain and with a
#              coupon and agents' commissions on every order, then with a replica of the busiest
#              service, each against BASELINE=<commit> (default 3246524; plain) in the same run;
#              results go to bench/results/ (BENCH_ARGS to tune)
# make web   — build the storefront and console (web/, served by the gateway at / and /admin)
# make bench-import — cards imported per second (100,000 in one request) on SQLite and PostgreSQL
# make lint  — ruff lint, import order and format check, mypy (make test runs it first)
# make audit — check the invariants across the running suite's services
# the commit make bench measures the working tree against, in the same run
BASELINE ?= 3246524
PACKAGES := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml cli/pyproject.toml)
VENV := .venv
INSTALLED := $(VENV)/.installed
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.js web/package.json web/package-lock.json

.PHONY: lint web run test test-slow demo bench bench-import audit dlq-list dlq-replay clean

$(INSTALLED): requirements.lock $(PACKAGES) scripts/bootstrap.sh
	scripts/bootstrap.sh

run: $(INSTALLED) web
	scripts/ensure-broker.sh
	$(VENV)/bin/kameng run

web/dist/index.html: $(WEB_SOURCES) scripts/build-web.sh
	scripts/build-web.sh

web: web/dist/index.html

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(INSTALLED) lint web
	scripts/ensure-broker.sh --postgres
	scripts/ensure-browser.sh
	scripts/run-tests.sh -m "not slow" $(PYTEST_ARGS)

# the fault tests: components killed, RabbitMQ restarted and PostgreSQL stopped mid-stream, events
# replayed on the bus (CI runs them too); they restart the machine's broker and database: run them alone
test-slow: $(INSTALLED)
	scripts/ensure-broker.sh --postgres
	.venv/bin/python -m pytest -m slow $(PYTEST_ARGS)

demo: $(INSTALLED)
	$(VENV)/bin/kameng demo $(DEMO_ARGS)

bench: $(INSTALLED)
	scripts/ensure-broker.sh --postgres
	$(VENV)/bin/python bench/run.py --baseline $(BASELINE) $(BENCH_ARGS)

bench-import: $(INSTALLED)
	scripts/ensure-broker.sh --postgres
	$(VENV)/bin/python bench/import.py $(BENCH_ARGS)

audit: $(INSTALLED)
	$(VENV)/bin/kameng audit

dlq-list: $(INSTALLED)
	$(VENV)/bin/kameng dlq list

dlq-replay: $(INSTALLED)
	$(VENV)/bin/kameng dlq replay

clean:
	rm -rf $(VENV) .kameng
