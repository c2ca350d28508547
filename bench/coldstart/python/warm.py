"""Warm per-request cost of the Python reference, in process (no Runtime API around it), to set
against the Rust criterion bench `path/connect_warm_mint_authorizer`: the same sample event
(API Gateway JWT-authorizer claims), the secret already cached, the handler called in a loop.

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

event = json.load(open(sys.argv[1]))
first = app.handler(event, None)
assert first["statusCode"] == 200, first
samples = []
for _ in range(2000):
    start = time.perf_counter_ns()
    response = app.handler(event, None)
    samples.append(time.perf_counter_ns() - start)
assert response["statusCode"] == 200
print(json.dumps({"python_warm_us_median": statistics.median(samples) / 1000, "iterations": len(samples)}))
