import pytest

from release.settings import DeploymentSettings
from release.stack import StackNotDeployed, api_base_url


def test_unreachable_endpoint_is_a_clear_error():
    settings = DeploymentSettings(aws_endpoint_url="http://127.0.0.1:1")

    with pytest.raises(StackNotDeployed, match=r"nothing answers at http://127.0.0.1:1"):
        api_base_url(settings)


def test_missing_stack_is_a_clear_error(aws, settings):
    with pytest.raises(StackNotDeployed, match="'detector-dev' not found"):
        api_base_url(settings)
