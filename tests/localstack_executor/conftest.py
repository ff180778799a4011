"""Fixtures: boto3 clients pointed at the host LocalStack (``localstack`` comes from
tests/conftest.py), and a python3.12 zip function with a published layer."""

from __future__ import annotations

import contextlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = "http://127.0.0.1:4566"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
FUNCTION_TIMEOUT_SECONDS = 2

HANDLER_SOURCE = """
import os
import sys
import time

import layer_greeting  # the layer's python/
import layer_site_package  # the layer's python/lib/python3.12/site-packages/

print("init: app module imported")


def handler(event, context):
    print(f"invoked: action={event.get('action')} marker={event.get('marker')}")
    if event.get("action") == "raise":
        raise ValueError("the handler failed on purpose")
    if event.get("action") == "sleep":
        time.sleep(event["seconds"])
    if event.get("action") == "exit":
        os._exit(3)
    import boto3  # from the runtime's site-packages, as in AWS: the zip does not ship it

    names = event.get("env", [])
    return {
        "echo": event,
        "greeting": layer_greeting.GREETING,
        "site_package": layer_site_package.NAME,
        "python": list(sys.version_info[:2]),
        "boto3": boto3.__version__,
        "account": boto3.client("sts").get_caller_identity()["Account"],
        "env": {name: os.environ.get(name) for name in names},
        "handler_file_in_task_root": os.path.isfile(
            os.path.join(os.environ["LAMBDA_TASK_ROOT"], "app.py")
        ),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@dataclass(frozen=True)
class Clients:
    endpoint: str
    lambda_: object
    logs: object


@pytest.fixture(scope="session")
def clients(localstack) -> Clients:
    session = boto3.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION
    )
    # One attempt: a retried invoke would run the function twice and blur timings.
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=60)
    return Clients(
        endpoint=localstack,
        lambda_=session.client("lambda", endpoint_url=localstack, config=config),
        logs=session.client("logs", endpoint_url=localstack),
    )


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    timeout_seconds: int


def _delete_function(clients: Clients, name: str) -> None:
    state = clients.lambda_.get_function_configuration(FunctionName=name)["State"]
    try:
        clients.lambda_.delete_function(FunctionName=name)
    except ClientError:
        # LocalStack 2026.3 cannot delete (nor update) a function whose version failed to
        # start ("Unable to find version manager"); it goes when LocalStack restarts.
        if state != "Failed":
            raise
    with contextlib.suppress(clients.logs.exceptions.ResourceNotFoundException):
        clients.logs.delete_log_group(logGroupName=f"/aws/lambda/{name}")


@pytest.fixture(scope="module")
def layer_version_arn(clients) -> Iterator[str]:
    layer_name = f"host-executor-test-{uuid.uuid4().hex[:8]}"
    published = clients.lambda_.publish_layer_version(
        LayerName=layer_name,
        Content={
            "ZipFile": zip_bytes(
                {
                    "python/layer_greeting.py": 'GREETING = "hello from the layer"\n',
                    "python/lib/python3.12/site-packages/layer_site_package.py": (
                        'NAME = "site-packages of the layer"\n'
                    ),
                }
            )
        },
        CompatibleRuntimes=["python3.12"],
    )
    yield published["LayerVersionArn"]
    clients.lambda_.delete_layer_version(LayerName=layer_name, VersionNumber=published["Version"])


@pytest.fixture(scope="module")
def function(clients, layer_version_arn) -> Iterator[DeployedFunction]:
    """A python3.12 zip function using the layer, Active (real waiter), deleted afterwards."""
    name = f"host-executor-test-{uuid.uuid4().hex[:8]}"
    clients.lambda_.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_bytes({"app.py": HANDLER_SOURCE})},
        Layers=[layer_version_arn],
        Timeout=FUNCTION_TIMEOUT_SECONDS,
        MemorySize=256,
        Environment={"Variables": {"MODEL_ALIAS": "champion", "STAGE": "test"}},
    )
    clients.lambda_.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    yield DeployedFunction(name, FUNCTION_TIMEOUT_SECONDS)
    _delete_function(clients, name)


@pytest.fixture
def make_function(clients) -> Iterator:
    """Create extra functions for one test (``make_function(runtime=..., handler=...)``)."""
    created: list[str] = []

    def make(*, runtime: str = "python3.12", handler: str = "app.handler") -> str:
        name = f"host-executor-test-{uuid.uuid4().hex[:8]}"
        clients.lambda_.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": zip_bytes({"app.py": "def handler(event, context):\n    return 1\n"})},
        )
        created.append(name)
        return name

    yield make
    for name in created:
        _delete_function(clients, name)
