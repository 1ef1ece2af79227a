# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step
# of those two, or a tool for maintainers.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
export PYTHONPATH := $(CURDIR)
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
# One OpenMP thread per process (the e5 sentence encoder, scikit-learn): see bot/nlu/encoder.py.
export OMP_NUM_THREADS ?= 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: setup run chat simulate telegram-webhook db-upgrade purge dead-letters console-user test unit check-knowledge validate train lint bench bench-nlu bench-serving profile deploy-check clean

setup:
	@bash scripts/setup.sh

run: setup
	@$(PY) -m devtools.run

chat: setup
	@$(PY) -m devtools.chat

# Chat as a WhatsApp or Telegram user against local fake providers (no accounts needed).
simulate: setup
	@$(PY) -m devtools.simulate $(ARGS)

# Register the Telegram webhook with its secret token: make telegram-webhook URL=https://<public>/webhooks/telegram/webhook
telegram-webhook: setup
	@test -n "$(URL)" || { echo "usage: make telegram-webhook URL=https://<public>/webhooks/telegram/webhook"; exit 2; }
	@$(PY) -m channels.telegram_webhook --url "$(URL)" $(ARGS)

db-upgrade: setup
	@$(PY) -m casework.db upgrade

# Retention periods now (RETENTION_*_DAYS); the privacy worker of `make run` does it daily.
purge: db-upgrade
	@TRACKER_DB=$${TRACKER_DB:-var/tracker.db} $(PY) -m casework.retention --once

# Staff notifications that gave up; requeue one with: $(PY) -m casework.outbox --requeue ID
dead-letters: setup
	@$(PY) -m casework.outbox --dead

# A staff account for the console: make console-user STAFF=ana OFFICE=oss-pe [ROLE=office_lead] [ARGS=--totp]
# Uses the same local secrets as `make run` (.env.local); prints a generated password once.
console-user: setup
	@test -n "$(STAFF)" -a -n "$(OFFICE)" || { echo "usage: make console-user STAFF=name OFFICE=office-id [ROLE=caseworker|office_lead|coordinator]"; exit 2; }
	@$(PY) -c "from devtools.stack import local_secrets; local_secrets()"
	@set -a; . ./.env.local; set +a; \
	  $(PY) -m casework.db upgrade >/dev/null && \
	  $(PY) -m console.accounts create "$(STAFF)" --office "$(OFFICE)" --role "$(or $(ROLE),caseworker)" --generate $(ARGS)

check-knowledge: setup
	@$(PY) -m knowledge.check $(ARGS)

validate: setup
	@$(RASA) data validate --config config.yml --domain domain --data bot/data --fail-on-warnings

train: setup
	@$(PY) -m devtools.train

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/mypy

test: setup check-knowledge validate lint train
	@$(PY) -m pytest $(PYTEST_ARGS)

bench: bench-nlu bench-serving

# The serving path: ours (signed WhatsApp/Telegram webhooks) vs bare Rasa (REST), figures in
# reports/bench.{json,md,png}. ARGS='--quick --skip-bare' is a smoke run; ARGS='--soak 10000' adds
# the memory soak.
bench-serving: setup train
	@nice -n 10 $(PY) -m devtools.bench $(ARGS)

# The production profile alone: stores, locks, deploy/ files, two replicas with faults.
deploy-check: setup train
	@$(PY) -m pytest tests/production $(PYTEST_ARGS)

# Where the serving path's CPU goes, by area, at saturation (py-spy on Rasa and the action
# server): reports/profile.md. Quiet machine; about 2 minutes.
profile: setup train
	@nice -n 10 $(PY) -m devtools.profile_serving --write $(ARGS)

bench-nlu: setup
	@$(PY) -m devtools.bench_nlu $(ARGS)

clean:
	rm -rf models var .rasa
