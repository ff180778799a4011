"""Fixtures of the static checks: the SAM template, before and after the transform."""

from typing import Any

import pytest

from tests.static.support import TEMPLATE, load_cfn_yaml, sam_transform


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_cfn_yaml(TEMPLATE)


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """template.yaml after the SAM transform: the resources CloudFormation really creates."""
    return sam_transform(sam_template)
