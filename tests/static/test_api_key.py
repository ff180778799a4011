"""template.yaml's optional API key: ``ApiKeyRequired=true`` puts every route behind the
``x-api-key`` header with one usage plan and one key; ``false`` (the default) leaves no key
resource and no route with a security requirement. Checked after the SAM transform, with the
condition evaluated both ways."""

from typing import Any

import pytest

from tests.static.support import with_conditions

API = "PredictApi"
FUNCTION = "PredictFunction"
KEY_TYPES = {
    "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::ApiKey",
    "AWS::ApiGateway::UsagePlanKey",
}
REQUIRES_KEY = [{"api_key": []}]


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def routes(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(path, method) -> the method object, for every method the API integrates."""
    return {
        (path, method): operation
        for path, item in body["paths"].items()
        for method, operation in item.items()
        if "x-amazon-apigateway-integration" in operation
    }


def event_routes(sam_template: dict[str, Any]) -> set[tuple[str, str]]:
    events = sam_template["Resources"][FUNCTION]["Properties"]["Events"].values()
    return {
        (e["Properties"]["Path"], e["Properties"]["Method"].lower())
        for e in events
        if e["Type"] == "Api"
    }


def test_parameter_is_a_true_false_switch_off_by_default(sam_template: dict[str, Any]) -> None:
    parameter = sam_template["Parameters"]["ApiKeyRequired"]
    assert parameter["Default"] == "false"
    assert set(parameter["AllowedValues"]) == {"true", "false"}


def test_without_a_key_no_key_resource_and_every_route_is_open(
    cfn_template: dict[str, Any], sam_template: dict[str, Any]
) -> None:
    template = with_conditions(cfn_template, {"ApiKeyRequired": "false"})

    body = template["Resources"][API]["Properties"]["Body"]
    open_routes = {route: op.get("security") for route, op in routes(body).items()}

    assert not {n for n, r in template["Resources"].items() if r["Type"] in KEY_TYPES}
    assert "ApiKeyId" not in template["Outputs"]
    assert set(open_routes) == event_routes(sam_template)
    assert not any(open_routes.values()), f"routes with a security requirement: {open_routes}"


def test_with_a_key_every_route_requires_it_through_one_usage_plan(
    cfn_template: dict[str, Any], sam_template: dict[str, Any]
) -> None:
    template = with_conditions(cfn_template, {"ApiKeyRequired": "true"})
    resources = template["Resources"]

    body = resources[API]["Properties"]["Body"]
    (plan_name, plan), *more_plans = of_type(template, "AWS::ApiGateway::UsagePlan").items()
    (key_name, key), *more_keys = of_type(template, "AWS::ApiGateway::ApiKey").items()
    links = list(of_type(template, "AWS::ApiGateway::UsagePlanKey").values())
    stages = [
        name
        for name, stage in of_type(template, "AWS::ApiGateway::Stage").items()
        if stage["Properties"]["RestApiId"] == {"Ref": API}
    ]

    assert not more_plans and not more_keys
    assert len(stages) == 1
    assert body["securityDefinitions"]["api_key"] == {
        "type": "apiKey",
        "name": "x-api-key",
        "in": "header",
    }
    keyed = routes(body)
    assert set(keyed) == event_routes(sam_template)
    assert all(op.get("security") == REQUIRES_KEY for op in keyed.values()), keyed
    stage = resources[stages[0]]["Properties"]["StageName"]
    assert plan["Properties"]["ApiStages"] == [{"ApiId": {"Ref": API}, "Stage": stage}]
    depends_on = plan.get("DependsOn", [])
    depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
    assert stages[0] in depends_on, "the usage plan may be created before the stage"
    assert [link["Properties"] for link in links] == [
        {
            "KeyId": {"Ref": key_name},
            "KeyType": "API_KEY",
            "UsagePlanId": {"Ref": plan_name},
        }
    ]
    assert key["Properties"]["Enabled"] is True
    # The id, not the value: the key itself is a secret and stays out of the outputs.
    assert template["Outputs"]["ApiKeyId"]["Value"] == {"Ref": key_name}


@pytest.mark.parametrize("required", ["false", "true"])
def test_the_function_and_its_permissions_do_not_depend_on_the_key(
    cfn_template: dict[str, Any], required: str
) -> None:
    template = with_conditions(cfn_template, {"ApiKeyRequired": required})
    permissions = of_type(template, "AWS::Lambda::Permission")

    assert FUNCTION in template["Resources"]
    assert permissions
    assert all(API in str(p["Properties"]["SourceArn"]) for p in permissions.values())
