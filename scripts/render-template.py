#!/usr/bin/env python3
"""What each function of template.yaml would get as its environment, without deploying.

    scripts/render-template.py [--template template.yaml] [--parameters params.json]
                               [--stack-name NAME] [--region REGION]

Prints one JSON document:

    {"rules": [<failed rule assertion descriptions>],
     "parameters": [<parameter constraint violations>],
     "functions": {"MintTokenFunction": {"environment": {...}, "environment_bytes": N,
                                         "layers": ["ConfigLayer"]}, ...},
     "layers": {"ConfigLayer": {"content_uri": "config/"}},
     "secrets": {"SigningKeysSecret": {"name": "whoscalling/<stack>/signing-keys", "arn": ...}, ...}}

environment_bytes is measured the way Lambda measures its 4 KB limit: the variables serialized
as a JSON object, names and values quoted and escaped (a quote or backslash counts twice, a
control character six times). Non-ASCII characters are counted as \\uXXXX escapes, never fewer
bytes than their UTF-8, so the figure errs on the safe side.

Only functions whose Condition holds are listed. The template is decoded by cfn-lint (the same
parser `sam validate --lint` uses), SAM's Globals are merged into each function the way SAM does
for environment variables (the function's own variable wins), and the intrinsic functions the
template uses are evaluated: Ref, Fn::Sub, Fn::If, Fn::Join, Fn::Equals, Fn::Not, Fn::And, Fn::Or,
Fn::Contains, Fn::EachMemberEquals, Fn::Split, Condition. A resource's Ref is what CloudFormation would
give: a secret's full ARN (with the six-character suffix), a table's generated name, so the
sizes are those of a real deployment in that region and stack.

Why: a combination of options whose environment overflows Lambda's 4 KB, or that names a
variable the configuration document's placeholders need but the template does not set, would
otherwise only show at deploy time (tests/tests/template_config.rs runs the combinations that
matter, with the realistic document of docs/CONFIGURATION.md).
"""

import argparse
import json
import re
import sys

from cfnlint.decode import decode

ACCOUNT = "123456789012"


class TemplateError(Exception):
    pass


class Renderer:
    def __init__(self, template, parameters, stack_name, region):
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.parameter_problems = []
        self.parameters = self._resolve_parameters(parameters)
        self._conditions = {}

    # ---- parameters --------------------------------------------------------------------------
    def _resolve_parameters(self, given):
        declared = self.template.get("Parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise TemplateError(f"unknown parameters: {', '.join(unknown)}")
        values = {}
        for name, spec in declared.items():
            if name in given:
                raw = given[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                self.parameter_problems.append(f"{name}: required (no default)")
                raw = ""
            raw = str(raw) if not isinstance(raw, list) else ",".join(map(str, raw))
            self._check_constraints(name, spec, raw)
            if spec["Type"] == "CommaDelimitedList":
                values[name] = raw.split(",")
            else:
                values[name] = raw
        return values

    def _check_constraints(self, name, spec, raw):
        if "AllowedValues" in spec and raw not in [str(v) for v in spec["AllowedValues"]]:
            self.parameter_problems.append(f"{name}: not one of the allowed values")
        if "AllowedPattern" in spec and spec["Type"] == "String":
            if not re.fullmatch(spec["AllowedPattern"], raw):
                self.parameter_problems.append(f"{name}: does not match AllowedPattern")
        # CloudFormation applies a list's pattern to each item.
        if "AllowedPattern" in spec and spec["Type"] == "CommaDelimitedList":
            if not all(re.fullmatch(spec["AllowedPattern"], item) for item in raw.split(",")):
                self.parameter_problems.append(f"{name}: does not match AllowedPattern")
        if spec["Type"] == "Number":
            try:
                number = float(raw)
            except ValueError:
                self.parameter_problems.append(f"{name}: not a number")
                return
            if "MinValue" in spec and number < float(spec["MinValue"]):
                self.parameter_problems.append(f"{name}: below MinValue")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                self.parameter_problems.append(f"{name}: above MaxValue")
        if "MinLength" in spec and len(raw) < int(spec["MinLength"]):
            self.parameter_problems.append(f"{name}: shorter than MinLength")
        if "MaxLength" in spec and len(raw) > int(spec["MaxLength"]):
            self.parameter_problems.append(f"{name}: longer than MaxLength")

    # ---- references --------------------------------------------------------------------------
    def ref(self, name):
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.template.get("Resources", {}).get(name)
        if resource is None:
            raise TemplateError(f"Ref to unknown name {name}")
        if "Condition" in resource and not self.condition(resource["Condition"]):
            raise TemplateError(f"Ref to {name}, whose condition {resource['Condition']} is false")
        kind = resource["Type"]
        if kind == "AWS::SecretsManager::Secret":
            secret_name = self.evaluate(resource.get("Properties", {}).get("Name", f"{name}-a1B2c3D4e5F6"))
            # Secrets Manager appends a hyphen and six random characters to the name in the ARN.
            return f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{secret_name}-Ab12Cd"
        if kind == "AWS::DynamoDB::Table":
            # CloudFormation's generated name: stack, logical id and a 12-13 character suffix.
            return f"{self.stack_name}-{name}-1A2B3C4D5E6F7"
        if kind == "AWS::Serverless::HttpApi":
            return "a1b2c3d4e5"
        if kind == "AWS::Serverless::LayerVersion":
            # A layer's Ref is its version ARN; functions list the logical id here.
            return name
        if kind == "AWS::SNS::Topic":
            # A topic's Ref is its ARN; the generated name is stack, logical id and a suffix.
            return f"arn:aws:sns:{self.region}:{ACCOUNT}:{self.stack_name}-{name}-1A2B3C4D5E6F"
        return f"{self.stack_name}-{name}-1A2B3C4D5E6F7"

    def get_att(self, name, attribute):
        if name not in self.template.get("Resources", {}):
            raise TemplateError(f"GetAtt of unknown resource {name}")
        return f"arn:aws:{name}:{attribute}"

    # ---- intrinsic functions -----------------------------------------------------------------
    def condition(self, name):
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {})
            if name not in conditions:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self.evaluate(conditions[name]))
        return self._conditions[name]

    def sub(self, argument):
        if isinstance(argument, list):
            text, variables = argument
            variables = {key: self.evaluate(value) for key, value in variables.items()}
        else:
            text, variables = argument, {}

        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self.get_att(*name.split(".", 1))
            else:
                value = self.ref(name)
            if isinstance(value, list):
                raise TemplateError(f"${{{name}}} is a list inside Fn::Sub")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def evaluate(self, node):
        if isinstance(node, list):
            values = [self.evaluate(item) for item in node]
            return [value for value in values if value is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, argument), = node.items()
            if key == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
            if key == "Condition" and isinstance(argument, str):
                return self.condition(argument)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.evaluate(when_true if self.condition(name) else when_false)
            if key == "Fn::Split":
                separator, text = argument
                return str(self.evaluate(text)).split(separator)
            if key == "Fn::Join":
                separator, items = argument
                items = self.evaluate(items)
                return separator.join(str(item) for item in items)
            if key == "Fn::Equals":
                left, right = (self.evaluate(item) for item in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.evaluate(argument[0])
            if key == "Fn::And":
                return all(self.evaluate(item) for item in argument)
            if key == "Fn::Or":
                return any(self.evaluate(item) for item in argument)
            if key == "Fn::Contains":
                items, value = argument
                return self.evaluate(value) in self.evaluate(items)
            if key == "Fn::EachMemberEquals":
                items, value = argument
                value = self.evaluate(value)
                return all(item == value for item in self.evaluate(items))
            if key == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(name, attribute)
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by this renderer")
        return {key: value for key, value in ((k, self.evaluate(v)) for k, v in node.items()) if value is not NO_VALUE}

    # ---- the answers -------------------------------------------------------------------------
    def failed_rules(self):
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.evaluate(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self.evaluate(assertion["Assert"]):
                    failed.append(f"{name}: {assertion.get('AssertDescription', '')}")
        return failed

    def secrets(self):
        """The secrets the template creates (condition holding): logical id -> name and ARN."""
        created = {}
        for name, resource in self.template.get("Resources", {}).items():
            if resource["Type"] != "AWS::SecretsManager::Secret":
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            created[name] = {"name": self.evaluate(resource["Properties"]["Name"]), "arn": self.ref(name)}
        return created

    def functions(self):
        global_variables = (
            self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        )
        rendered = {}
        for name, resource in self.template.get("Resources", {}).items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            # SAM merges Globals into the function's map; a name the function sets wins.
            variables = {**global_variables, **own}
            environment = {key: self.evaluate(value) for key, value in variables.items()}
            environment = {key: value for key, value in environment.items() if value is not NO_VALUE}
            for key, value in environment.items():
                if not isinstance(value, str):
                    raise TemplateError(f"{name}: environment variable {key} is not a string")
            global_layers = self.template.get("Globals", {}).get("Function", {}).get("Layers", [])
            # SAM puts the Globals' layers before the function's own.
            layers = self.evaluate(global_layers) + self.evaluate(resource.get("Properties", {}).get("Layers", []))
            rendered[name] = {
                "environment": environment,
                "environment_bytes": lambda_environment_bytes(environment),
                "layers": [layer for layer in layers if isinstance(layer, str)],
            }
        return rendered

    def layers(self):
        """The layers the template creates (condition holding): logical id -> the folder shipped."""
        created = {}
        for name, resource in self.template.get("Resources", {}).items():
            if resource["Type"] != "AWS::Serverless::LayerVersion":
                continue
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            created[name] = {"content_uri": self.evaluate(resource["Properties"]["ContentUri"])}
        return created


def lambda_environment_bytes(environment):
    """Lambda's 4 KB limit is on the variables serialized as JSON: {"NAME":"value",...}."""
    return len(json.dumps(environment, separators=(",", ":"), ensure_ascii=True).encode())


class _NoValue:
    def __repr__(self):
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--parameters", help="a JSON file of {name: value} (lists as JSON arrays or text)")
    parser.add_argument("--stack-name", default="whoscalling-production")
    parser.add_argument("--region", default="ap-southeast-2")
    arguments = parser.parse_args()

    template, matches = decode(arguments.template)
    if matches or template is None:
        print(f"{arguments.template} could not be decoded: {matches}", file=sys.stderr)
        return 1
    given = {}
    if arguments.parameters:
        with open(arguments.parameters, encoding="utf-8") as file:
            given = json.load(file)
    try:
        renderer = Renderer(template, given, arguments.stack_name, arguments.region)
        answer = {
            "rules": renderer.failed_rules(),
            "parameters": renderer.parameter_problems,
            "functions": renderer.functions(),
            "layers": renderer.layers(),
            "secrets": renderer.secrets(),
        }
    except TemplateError as error:
        print(f"cannot render {arguments.template}: {error}", file=sys.stderr)
        return 1
    json.dump(answer, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
