#!/usr/bin/env python3
"""Scans every log line the integration scenarios produced (target/test-logs/*.jsonl, written by
tests/src/lib.rs CapturedLogs) for anything shaped like a secret or personal value, and fails if
one appears. Each test also checks its own known values; this catches what no test thought of.

Shapes: compact JWS/JWE (base64url JSON header segments), PEM blocks, email addresses, phone
numbers in international form, 11-digit national ids, cookies by name, our code and access-token
shape (<22 chars>.<43 chars> base64url), Basic credentials, and client secret or key assignments.
"""
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


def main() -> int:
    directory = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target/test-logs"
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        print(f"scan-logs: no logs in {directory}: did the integration tests run?", file=sys.stderr)
        return 1
    lines = 0
    findings = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            lines += 1
            for what, pattern in PATTERNS.items():
                match = pattern.search(line)
                if match:
                    # Say where and what, never the value itself.
                    try:
                        fields = [k for k, v in json.loads(line).get("fields", {}).items() if match.group(0) in str(v)]
                    except ValueError:
                        fields = []
                    findings.append(f"{path.name}:{number}: {what} ({len(match.group(0))} chars) in {fields or 'the line'}")
    for finding in findings:
        print("scan-logs:", finding, file=sys.stderr)
    print(f"scan-logs: {lines} log lines from {len(files)} test binaries, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
