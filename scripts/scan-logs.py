#!/usr/bin/env python3
"""Scans every log line the integration scenarios produced (target/test-logs/*.jsonl, written by
tests/src/lib.rs CapturedLogs, installed in every test binary before its main) for anything shaped
like a secret or personal value, and fails if one appears. Each test also checks its own known
values; this catches what no test thought of. tests/tests/log_scan.rs plants each shape in a log
and sees this script fire (and pass a clean control).

Shapes: compact JWS/JWE (base64url JSON header segments), PEM blocks, email addresses, phone
numbers in international form, 11-digit national ids, cookies by name, our code and access-token
shape (<22 chars>.<43 chars> base64url), Basic credentials.

A JSON line is scanned value by value, and a finding names the field it is in (`error`,
`_aws.CloudWatchMetrics[0].Namespace`, ...), never the value. A value that is wholly a UUID (a
Lambda request id) or an X-Ray trace id is left out: it carries nothing personal, and its hex
digits can happen to look like a national id. EMF metric records (an `_aws` member) are scanned
like any other line.

--every-test-in DIR: also fail unless every DIR/<name>.rs test binary left a log file
(<name>-<hash>-<pid>.jsonl), so a test binary whose logs are not captured is noticed.
"""
import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\."),
    "a PEM block": re.compile(r"-----BEGIN [A-Z ]+-----"),
    "an email address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"),
    "a phone number": re.compile(r"\+\d{8,15}\b"),
    "a national id": re.compile(r"(?<![\d.])\d{11}(?![\d.])"),
    "a session or login cookie": re.compile(r"whoscalling_(session|login)=[A-Za-z0-9_-]{16,}"),
    "an authorization code or access token": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
    "Basic credentials": re.compile(r"Basic [A-Za-z0-9+/=]{8,}"),
}
# Whole values that carry nothing personal: a UUID (Lambda request id) and an X-Ray trace id,
# bare or as the `X-Amzn-Trace-Id` header value.
HEX = "[0-9a-fA-F]"
HARMLESS = re.compile(
    rf"{HEX}{{8}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{4}}-{HEX}{{12}}"
    rf"|(Root=)?1-{HEX}{{8}}-{HEX}{{24}}(;(Parent={HEX}{{16}}|Sampled=[01?]|Lineage=[0-9a-fA-F:]+))*"
)


def leaves(value, path=""):
    """(field path, text) for every scalar in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from leaves(inner, f"{path}[{index}]")
    elif value is not None and not isinstance(value, bool):
        yield path or "the line", str(value)


def scan_line(line):
    """(shape, length, field) for everything secret- or person-shaped in one log line."""
    try:
        parsed = json.loads(line)
        values = list(leaves(parsed)) if isinstance(parsed, (dict, list)) else [("the line", line)]
    except ValueError:
        values = [("the line", line)]
    found = []
    for field, text in values:
        if HARMLESS.fullmatch(text):
            continue
        for what, pattern in PATTERNS.items():
            match = pattern.search(text)
            if match:
                found.append((what, len(match.group(0)), field))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(ROOT / "target/test-logs"))
    parser.add_argument("--every-test-in", metavar="DIR", help="fail unless every DIR/<name>.rs left a log file")
    args = parser.parse_args()
    directory = pathlib.Path(args.directory)
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        print(f"scan-logs: no logs in {directory}: did the integration tests run?", file=sys.stderr)
        return 1
    problems = []
    if args.every_test_in:
        for test in sorted(pathlib.Path(args.every_test_in).glob("*.rs")):
            # <name>-<16 hex hash>-<pid>.jsonl: the name must match whole (key_rotation is not session_key_rotation).
            shape = re.compile(re.escape(test.stem) + r"-[0-9a-f]{16}-\d+\.jsonl")
            if not any(shape.fullmatch(f.name) for f in files):
                problems.append(f"{test.name} left no log file: its logs were not captured")
    lines = 0
    findings = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            for what, length, field in scan_line(line):
                # Say where and what, never the value itself.
                findings.append(f"{path.name}:{number}: {what} ({length} chars) in {field}")
    for message in problems + findings:
        print("scan-logs:", message, file=sys.stderr)
    print(f"scan-logs: {lines} log lines from {len(files)} test binaries, {len(findings)} findings")
    return 1 if findings or problems else 0


if __name__ == "__main__":
    sys.exit(main())
