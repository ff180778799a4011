"""The deployed CloudFormation stack: its outputs and the URL its REST API answers at."""

from botocore.exceptions import ClientError, EndpointConnectionError

from release.settings import DeploymentSettings


class StackNotDeployed(RuntimeError):
    """The stack does not exist, or its endpoint does not answer; run ``make deploy``."""


def stack_outputs(settings: DeploymentSettings) -> dict[str, str]:
    """The stack's outputs, OutputKey -> OutputValue.

    Raises:
        StackNotDeployed: no such stack, or nothing answers at the configured endpoint.
    """
    cloudformation = settings.client("cloudformation")
    try:
        stack = cloudformation.describe_stacks(StackName=settings.stack_name)["Stacks"][0]
    except EndpointConnectionError as error:
        raise StackNotDeployed(
            f"nothing answers at {settings.aws_endpoint_url}: start LocalStack "
            "(make localstack-start) and deploy (make deploy)"
        ) from error
    except ClientError as error:
        raise StackNotDeployed(
            f"stack {settings.stack_name!r} not found: run 'make deploy' first"
        ) from error
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def api_base_url(settings: DeploymentSettings) -> str:
    """Base URL of the deployed stage, without a trailing slash.

    On AWS this is the stack's ``ApiUrl`` output; on LocalStack (an endpoint is set) it is
    ``<endpoint>/_aws/execute-api/<ApiId>/<Stage>``, which needs no DNS.
    """
    outputs = stack_outputs(settings)
    if settings.aws_endpoint_url is None:
        return outputs["ApiUrl"].rstrip("/")
    endpoint = settings.aws_endpoint_url.rstrip("/")
    return f"{endpoint}/_aws/execute-api/{outputs['ApiId']}/{outputs['Stage']}"
