"""Lints template.yaml offline: cfn-lint on the SAM template as written, then the template is
translated to plain CloudFormation with aws-sam-translator (what `sam deploy` does, minus the
upload) and cfn-lint checks that too, since on AWS::Serverless::* resources it misses most
mistakes. Also the serverless best-practice rules (cfn-lint-serverless).

Usage: python scripts/check_template.py template.yaml
"""

import json
import os
import subprocess
import sys
import tempfile

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs; offline there are none to look up."""

    def load(self):
        return {}


def cfn_lint(path, *extra):
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "cfn-lint"), *extra, "--", path],
        capture_output=True,
        text=True,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        print(output)
        sys.exit(f"cfn-lint failed on {path} (exit {result.returncode})")
    return output


def translate(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    for name, resource in template["Resources"].items():
        # Local code is uploaded by `sam deploy`; the translator only accepts S3 locations.
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://placeholder-bucket/{name}.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://placeholder-bucket/{name}.zip"
    try:
        return transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as error:
        for cause in error.causes:
            print(f"SAM: {cause.message}")
        sys.exit(f"{path} does not translate to CloudFormation")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "template.yaml"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    cfn_lint(path)
    # X-Ray tracing (WS1000, WS5000) is left to the user: it costs per trace and adds little
    # to stream-triggered functions, whose logs and EMF metrics already say what happened.
    cfn_lint(
        path,
        "--append-rules",
        "cfn_lint_serverless.rules",
        "--ignore-checks",
        "WS1000",
        "WS5000",
    )
    translated = translate(path)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(translated, out, indent=1)
    try:
        # W1028 (an `Fn::If` branch never taken): SAM wraps the notification it adds to a
        # conditional bucket in an `Fn::If` of the function's condition, which is the bucket's too.
        cfn_lint(out.name, "--ignore-checks", "W1028")
    finally:
        os.unlink(out.name)
    kinds = sorted({r["Type"] for r in translated["Resources"].values()})
    print(f"template: {path} lints clean as SAM and as {len(translated['Resources'])} "
          f"CloudFormation resources ({len(kinds)} types)")


if __name__ == "__main__":
    main()
