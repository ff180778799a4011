"""template.yaml: cfn-lint clean, least-privilege IAM, and a private, encrypted, versioned bucket.

The IAM checks read the template after the SAM transform (aws-sam-translator, offline), so
they see the role and policies SAM generates, not only what template.yaml spells out.
"""

from pathlib import Path
from typing import Any

import pytest

from tests.static.support import PSEUDO_PARAMETERS, TEMPLATE, Evaluator

FUNCTION = "PredictFunction"
BASIC_EXECUTION_ROLE = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
SERVER_SIDE_ENCRYPTION = {"AES256", "aws:kms", "aws:kms:dsse"}
# A second set of parameter values: the function's permissions must follow the parameters.
OVERRIDES = {
    "Stage": "prod",
    "ModelName": "other-model",
    "ModelsBucketName": "other-models-bucket",
    "AliasParameterName": "/other/prod/model-alias",
    "CandidateParameterName": "/other/prod/model-candidate",
}


def cfn_lint(template: Path) -> list[str]:
    """cfn-lint's errors and warnings (informational matches left out), one line each."""
    from cfnlint.api import lint_file
    from cfnlint.config import ManualArgs

    matches = lint_file(template, config=ManualArgs(regions=[PSEUDO_PARAMETERS["AWS::Region"]]))
    return [
        f"{match.rule.id} line {match.linenumber}: {match.message}"
        for match in matches
        if match.rule.severity.lower() in {"error", "warning"}
    ]


def test_cfn_lint_finds_no_errors_or_warnings() -> None:
    problems = cfn_lint(TEMPLATE)
    assert not problems, "cfn-lint template.yaml:\n" + "\n".join(problems)


# ---- IAM -------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM policy document in the template, with where it comes from."""
    documents = []
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        kind = resource["Type"]
        if kind == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                documents.append((f"{name}/{policy['PolicyName']}", policy["PolicyDocument"]))
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy"}:
            documents.append((name, properties["PolicyDocument"]))
    return documents


def allow_statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in as_list(document.get("Statement", [])) if s.get("Effect") == "Allow"]


def test_no_policy_allows_wildcard_actions_or_resources(cfn_template: dict[str, Any]) -> None:
    problems = []
    for source, document in policy_documents(cfn_template):
        for statement in allow_statements(document):
            where = f"{source} {statement.get('Sid', '')}".strip()
            problems += [
                f"{where}: {key}" for key in ("NotAction", "NotResource") if key in statement
            ]
            problems += [
                f"{where}: wildcard action {action!r}"
                for action in as_list(statement.get("Action", []))
                if not isinstance(action, str) or "*" in action
            ]
            if "*" in as_list(statement.get("Resource", [])):
                problems.append(f"{where}: Resource '*'")
            if "*" in str(statement.get("Principal", "")):
                problems.append(f"{where}: Principal '*'")
    assert not problems, "over-broad IAM statements:\n" + "\n".join(problems)


def test_roles_attach_no_managed_policy_but_basic_execution(cfn_template: dict[str, Any]) -> None:
    roles = {n: r for n, r in cfn_template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles, "the SAM transform made no IAM role"
    evaluate = Evaluator(cfn_template)
    for name, role in roles.items():
        attached = {evaluate(arn) for arn in role["Properties"].get("ManagedPolicyArns", [])}
        assert attached <= {BASIC_EXECUTION_ROLE}, f"{name} attaches {sorted(attached)}"
        trust = allow_statements(role["Properties"]["AssumeRolePolicyDocument"])
        principals = {p for s in trust for p in as_list(s["Principal"].get("Service", []))}
        assert principals == {"lambda.amazonaws.com"}, f"{name} trusts {principals}"


def function_permissions(template: dict[str, Any], evaluate: Evaluator) -> set[tuple[str, str]]:
    """(action, resource ARN) pairs the function's role allows through its own policies."""
    function = template["Resources"][FUNCTION]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    documents = [
        p["PolicyDocument"] for p in template["Resources"][role]["Properties"].get("Policies", [])
    ]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role} in resource["Properties"].get(
            "Roles", []
        ):
            documents.append(resource["Properties"]["PolicyDocument"])
    return {
        (action, evaluate(arn))
        for document in documents
        for statement in allow_statements(document)
        for action in as_list(statement["Action"])
        for arn in as_list(statement["Resource"])
    }


@pytest.mark.parametrize("overrides", [{}, OVERRIDES], ids=["defaults", "overridden"])
def test_function_reads_only_its_models_prefix_and_its_two_parameters(
    cfn_template: dict[str, Any], overrides: dict[str, str]
) -> None:
    evaluate = Evaluator(cfn_template, overrides)
    variables = cfn_template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    bucket = evaluate(variables["PREDICT_MODELS_BUCKET"])
    model_name = evaluate(variables["PREDICT_MODEL_NAME"])
    read = {
        evaluate(variables[name])
        for name in ("PREDICT_ALIAS_PARAMETER", "PREDICT_CANDIDATE_PARAMETER")
    }
    stack_parameters = {
        evaluate(r["Properties"]["Name"])
        for r in cfn_template["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter"
    }
    assert len(read) == 2, "alias and candidate must be two parameters"
    assert read <= stack_parameters, "the function reads a parameter the stack lacks"
    if overrides:
        assert read == {overrides["AliasParameterName"], overrides["CandidateParameterName"]}

    region, account = PSEUDO_PARAMETERS["AWS::Region"], PSEUDO_PARAMETERS["AWS::AccountId"]
    expected = {
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/models/{model_name}/*"),
        *(
            ("ssm:GetParameter", f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}")
            for name in read
        ),
    }
    granted = function_permissions(cfn_template, evaluate)
    assert granted == expected, f"{FUNCTION} may {sorted(granted)}; expected {sorted(expected)}"


def test_only_api_gateway_may_invoke_the_function(cfn_template: dict[str, Any]) -> None:
    permissions = [
        (name, r["Properties"])
        for name, r in cfn_template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Permission"
    ]
    for name, permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com", name
        assert permission.get("SourceArn"), f"{name} lets any API Gateway API invoke the function"


# ---- the models bucket -----------------------------------------------------------------


def buckets(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource.get("Properties") or {}
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::S3::Bucket"
    }


def bucket_problems(properties: dict[str, Any]) -> list[str]:
    problems = []
    block = properties.get("PublicAccessBlockConfiguration") or {}
    for flag in (
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ):
        if str(block.get(flag)).lower() != "true":
            problems.append(f"PublicAccessBlockConfiguration.{flag} is not true")
    rules = (properties.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration", [])
    algorithms = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules}
    if not rules or not algorithms <= SERVER_SIDE_ENCRYPTION:
        problems.append(f"no default encryption (SSEAlgorithm: {sorted(map(str, algorithms))})")
    if (properties.get("VersioningConfiguration") or {}).get("Status") != "Enabled":
        problems.append("versioning is not enabled")
    if "AccessControl" in properties:
        problems.append(f"canned ACL {properties['AccessControl']}")
    return problems


def test_models_bucket_is_private_encrypted_and_versioned(cfn_template: dict[str, Any]) -> None:
    variables = cfn_template["Resources"][FUNCTION]["Properties"]["Environment"]["Variables"]
    all_buckets = buckets(cfn_template)
    assert variables["PREDICT_MODELS_BUCKET"] == {"Ref": "ModelsBucket"}
    assert "ModelsBucket" in all_buckets
    problems = [
        f"{name}: {p}" for name, props in all_buckets.items() for p in bucket_problems(props)
    ]
    assert not problems, "\n".join(problems)
