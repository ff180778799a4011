"""Helpers shared by the static checks: the repo's files and the SAM template, read offline."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BIN = Path(sys.executable).parent

# What the pseudo parameters resolve to when a template value is evaluated offline.
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "detector-dev",
}


def tool(name: str) -> str | None:
    """Path of a command-line tool: the project environment's own first, then PATH."""
    candidate = BIN / name
    return str(candidate) if candidate.exists() else shutil.which(name)


def repo_files() -> list[Path]:
    """Files git tracks, plus untracked ones it does not ignore (tracked at the next commit)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = sorted({ROOT / name for name in listed.split("\0") if name})
    return [path for path in paths if path.is_file()]


def load_cfn_yaml(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML file as plain data, short tags (!Ref, !Sub...) as intrinsics."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def sam_transform(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of ``template`` (no AWS calls).

    Local code paths are replaced by S3 URIs first, as ``sam package`` would.
    """
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = json.loads(json.dumps(template))
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            value = properties.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[key] = f"s3://packaged-artifacts/{value.strip('/')}"
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        boto_session=boto3.Session(region_name=PSEUDO_PARAMETERS["AWS::Region"]),
    )
    return translator.translate(sam_template=template, parameter_values={})


# The property CloudFormation returns for a Ref to a resource of these types.
NAMED_BY = {"AWS::S3::Bucket": "BucketName", "AWS::SSM::Parameter": "Name"}


class Unresolvable(ValueError):
    """A template value that cannot be evaluated offline."""


class Evaluator:
    """Evaluates Ref, Fn::Sub, Fn::Join and Fn::Select offline, from parameter values.

    A Ref to a bucket or an SSM parameter resolves to its name (its Name/BucketName
    property), which is what CloudFormation returns for those types.
    """

    def __init__(self, template: dict[str, Any], overrides: dict[str, str] | None = None):
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.values: dict[str, Any] = dict(PSEUDO_PARAMETERS)
        for name, parameter in template.get("Parameters", {}).items():
            if "Default" in parameter:
                self.values[name] = str(parameter["Default"])
        self.values.update(overrides or {})

    def ref(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        resource = self.resources.get(name)
        if resource and resource.get("Type") in NAMED_BY:
            named = (resource.get("Properties") or {}).get(NAMED_BY[resource["Type"]])
            if named is not None:
                return self(named)
        raise Unresolvable(f"Ref {name}")

    def __call__(self, value: Any) -> str:
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            (function, argument), *_ = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::Sub":
                return self.sub(argument)
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(self(part) for part in parts)
            if function == "Fn::Select":
                index, items = argument
                return self(items[int(self(index))])
        raise Unresolvable(json.dumps(value))

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return self(variables[name])
            if "." in name:
                raise Unresolvable(f"GetAtt {name} in Fn::Sub")
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def with_conditions(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """``template`` as CloudFormation would create it for these parameter values: resources
    and outputs whose Condition is false dropped, every Fn::If replaced by its chosen branch
    (``AWS::NoValue`` removed). Fn::Equals, Fn::Not, Fn::And, Fn::Or and Condition only."""
    evaluate = Evaluator(template, overrides)
    definitions = template.get("Conditions", {})

    def condition(name: str) -> bool:
        return truth(definitions[name])

    def truth(value: Any) -> bool:
        (function, argument), *_ = value.items()
        if function == "Condition":
            return condition(argument)
        if function == "Fn::Equals":
            left, right = argument
            return evaluate(left) == evaluate(right)
        if function == "Fn::Not":
            return not truth(argument[0])
        if function == "Fn::And":
            return all(truth(item) for item in argument)
        if function == "Fn::Or":
            return any(truth(item) for item in argument)
        raise Unresolvable(json.dumps(value))

    no_value = object()

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Fn::If"}:
                name, if_true, if_false = value["Fn::If"]
                return resolve(if_true if condition(name) else if_false)
            if value == {"Ref": "AWS::NoValue"}:
                return no_value
            items = {key: resolve(item) for key, item in value.items()}
            return {key: item for key, item in items.items() if item is not no_value}
        if isinstance(value, list):
            return [item for item in map(resolve, value) if item is not no_value]
        return value

    resolved = resolve(template)
    for section in ("Resources", "Outputs"):
        resolved[section] = {
            name: entry
            for name, entry in resolved.get(section, {}).items()
            if "Condition" not in entry or condition(entry["Condition"])
        }
    return resolved
