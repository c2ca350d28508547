"""Warm per-request cost of the Python reference, in process (no Runtime API around it), to set
against the Rust criterion bench `path/connect_warm_mint_authorizer`: the same sample event
(API Gateway JWT-authorizer claims), the secret already cached; each iteration decodes the event
JSON, runs the handler and encodes the response, as both runtimes do per invocation.

Run by scripts/coldstart --warm (moto, the secret and WHOSCALLING_CONFIG set up as for a cold
start). Prints one JSON line: {"python_warm_us_median": ..., "iterations": ...}.
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import app  # noqa: E402  (reads WHOSCALLING_CONFIG at import, as in Lambda)

class Context:
    aws_request_id = "warm-benchmark"


# The handler logs one JSON line per request, as in Lambda; keep it out of the result line.
log_sink = open(os.devnull, "w")
real_stdout, sys.stdout = sys.stdout, log_sink

raw_event = open(sys.argv[1], "rb").read()
first = app.handler(json.loads(raw_event), Context())
assert first["statusCode"] == 200, first
samples = []
for _ in range(2000):
    # As awslambdaric does per invocation (and as the Rust bench does): decode the event, run the
    # handler, encode the response.
    start = time.perf_counter_ns()
    response = app.handler(json.loads(raw_event), Context())
    json.dumps(response).encode()
    samples.append(time.perf_counter_ns() - start)
assert response["statusCode"] == 200
sys.stdout = real_stdout
print(json.dumps({"python_warm_us_median": statistics.median(samples) / 1000, "iterations": len(samples)}))
