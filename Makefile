# One command per job; each is a thin call into scripts/ or the Python CLIs.
# Everything runs on the embedded default: host LocalStack, sqlite MLflow, local ZenML.
SHELL := /bin/bash
PY := .venv/bin/python
export YOLO_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export ZENML_ANALYTICS_OPT_IN := false

.PHONY: help setup demo test test-unit lint localstack-start localstack-stop deploy delete \
        ingest train smoke reproduce promote rollback status history canary-start \
        canary-status canary-promote canary-abort clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup:  ## create the environments from the lock files (idempotent)
	scripts/setup.sh

demo: setup localstack-start deploy  ## the whole loop: train two versions, serve, predict, roll back
	$(PY) scripts/demo.py

test: setup localstack-start  ## lint, unit tests, and integration tests against the host LocalStack
	scripts/test.sh

test-unit: setup  ## unit tests only (moto, no LocalStack)
	$(PY) -m pytest -m "not integration"

lint:  ## ruff, shellcheck, sam validate --lint
	scripts/lint.sh

localstack-start:  ## start the host LocalStack on 127.0.0.1:4566 and wait until healthy
	scripts/localstack.sh start

localstack-stop:  ## stop the host LocalStack
	scripts/localstack.sh stop

deploy:  ## sam build + sam deploy of template.yaml to the host LocalStack
	scripts/deploy.sh deploy

delete:  ## tear the stack down
	scripts/deploy.sh delete

ingest:  ## generate the synthetic dataset (or: make ingest ARGS="--source coco128")
	$(PY) -m training ingest $(ARGS)

train:  ## the training pipeline for one version (CONFIG=configs/train_demo.yaml ARGS="epochs=3")
	$(PY) -m training run --config $(or $(CONFIG),configs/train_demo.yaml) $(ARGS)

reproduce:  ## check a run's commit, config and data, then train it again: make reproduce RUN=<id>
	$(PY) -m training reproduce $(RUN) $(ARGS)

smoke: setup localstack-start deploy  ## the smoke training end to end (configs/train_smoke.yaml), as scheduled CI runs it
	$(PY) -m training run --config configs/train_smoke.yaml $(ARGS)

promote:  ## serve a published version: make promote VERSION=2
	$(PY) -m release promote $(VERSION)

rollback:  ## serve the previous version (or make rollback VERSION=1)
	$(PY) -m release rollback $(if $(VERSION),--to $(VERSION))

status:  ## what serves now
	$(PY) -m release status

history:  ## every change of the serving alias
	$(PY) -m release history

canary-start:  ## a share of requests to a candidate: make canary-start VERSION=3 PERCENT=10
	$(PY) -m release canary start $(VERSION) --percent $(or $(PERCENT),10)

canary-status:  ## the champion, the candidate and its share
	$(PY) -m release canary status

canary-promote:  ## the candidate becomes the champion; the canary ends
	$(PY) -m release canary promote

canary-abort:  ## end the canary; the champion answers everything
	$(PY) -m release canary abort

clean:  ## remove build output and project state (keeps the environments)
	scripts/localstack.sh stop || true
	rm -rf .aws-sam .state
