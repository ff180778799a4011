"""The host Lambda executor (tools/localstack_host_executor) against the real host LocalStack:
a python3.12 zip function with a layer runs as a host process, end to end through boto3."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import WaiterError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def invoke(clients, name: str, event: dict) -> tuple[dict, dict]:
    response = clients.lambda_.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response, json.loads(response["Payload"].read())


def test_invoke_returns_the_handler_result(clients, function):
    response, payload = invoke(clients, function.name, {"action": "echo", "n": 1})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert payload["echo"] == {"action": "echo", "n": 1}
    assert payload["python"] == [3, 12]
    assert payload["handler_file_in_task_root"] is True
    assert 0 < payload["remaining_ms"] <= function.timeout_seconds * 1000
    assert payload["request_id"] == response["ResponseMetadata"]["RequestId"]


def test_layer_modules_and_runtime_boto3_are_importable(clients, function):
    _, payload = invoke(clients, function.name, {})

    assert payload["greeting"] == "hello from the layer"
    assert payload["site_package"] == "site-packages of the layer"
    assert payload["boto3"]  # the runtime's boto3; the zip does not ship one


def test_function_sees_its_environment_and_reaches_localstack(clients, function):
    names = [
        "MODEL_ALIAS",
        "STAGE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_EXECUTION_ENV",
        "_HANDLER",
    ]
    _, payload = invoke(clients, function.name, {"env": names})
    env = payload["env"]

    assert env["MODEL_ALIAS"] == "champion"
    assert env["STAGE"] == "test"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == function.name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_ENDPOINT_URL"] == clients.endpoint
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["_HANDLER"] == "app.handler"
    # The function's own boto3 call went to LocalStack with the injected credentials.
    assert payload["account"] == "000000000000"


def test_exception_returns_a_lambda_error_payload(clients, function):
    response, payload = invoke(clients, function.name, {"action": "raise"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "the handler failed on purpose"
    assert any("app.py" in frame and "handler" in frame for frame in payload["stackTrace"])


def test_timeout_returns_the_timeout_error_and_recycles_the_runtime(clients, function):
    started = time.monotonic()
    response, payload = invoke(clients, function.name, {"action": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert f"Task timed out after {function.timeout_seconds}.00 seconds" in payload["errorMessage"]
    assert elapsed < function.timeout_seconds + 5

    # The killed runtime is replaced: the next event runs in a fresh one.
    response, payload = invoke(clients, function.name, {"action": "echo"})
    assert "FunctionError" not in response
    assert payload["echo"] == {"action": "echo"}


def test_runtime_crash_returns_an_exit_error_and_recovers(clients, function):
    response, payload = invoke(clients, function.name, {"action": "exit"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]

    response, payload = invoke(clients, function.name, {"action": "echo"})
    assert "FunctionError" not in response
    assert payload["echo"] == {"action": "echo"}


def test_logs_reach_cloudwatch_logs(clients, function):
    marker = uuid.uuid4().hex
    response, _ = invoke(clients, function.name, {"action": "echo", "marker": marker})
    request_id = response["ResponseMetadata"]["RequestId"]
    group = f"/aws/lambda/{function.name}"

    messages: list[str] = []
    deadline = time.monotonic() + 15  # LocalStack stores them from a background queue
    while time.monotonic() < deadline:
        try:
            events = clients.logs.filter_log_events(logGroupName=group)["events"]
        except clients.logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [event["message"] for event in events]
        if any(marker in message for message in messages) and any(
            message.startswith("REPORT RequestId") for message in messages
        ):
            break
        time.sleep(0.5)

    assert any(f"invoked: action=echo marker={marker}" in message for message in messages)
    assert any(message.startswith(f"START RequestId: {request_id}") for message in messages)
    assert any(message.startswith("END RequestId") for message in messages)
    assert any(message.startswith("REPORT RequestId") for message in messages)


def test_import_error_returns_the_init_error(clients, make_function):
    name = make_function(handler="missing_module.handler")
    clients.lambda_.get_waiter("function_active_v2").wait(FunctionName=name)

    response, payload = invoke(clients, name, {})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "missing_module" in payload["errorMessage"]


def test_runtime_without_interpreter_fails_the_function_with_a_reason(clients, make_function):
    # No HOST_EXECUTOR_PYTHON_3_11 is configured: the function must not pretend to be Active.
    name = make_function(runtime="python3.11")
    with pytest.raises(WaiterError):
        clients.lambda_.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )

    configuration = clients.lambda_.get_function_configuration(FunctionName=name)
    assert configuration["State"] == "Failed"
    assert "HOST_EXECUTOR_PYTHON_3_11" in configuration["StateReason"]
