"""Cold-start harness: Rust mint-token vs the Python and Node references (standard library only).

Run by scripts/coldstart, which installs the runtimes, starts moto and creates the secret; see
bench/coldstart/README.md. For each cold start: a fresh Runtime API emulator (runtime_api.py)
serving the sample event, a fresh handler process, and

    init_ms        exec -> first GET /invocation/next       (Lambda's "Init Duration")
    response_ms    exec -> first POST /invocation/{id}/response   (what a cold caller waits,
                   minus API Gateway)
    invoke_ms      event sent -> response                    (the first invocation itself,
                   Secrets Manager call included)
    peak_rss_kib   VmHWM from /proc/<pid>/status read right after the response (not wait4's
                   ru_maxrss: Linux carries the parent's high-water mark over fork/vfork + exec,
                   so it reports at least the harness's own ~25 MiB)
    cpu_ms         user + system CPU time of the process, from wait4(), until the kill

then the process is killed. The response must be a 200 whose body's `data` is an HS256 JWT that
verifies with the widget key and carries the expected claims. Finally one cold start of each
under `valgrind --tool=callgrind` gives user-space instruction counts (Ir) of the whole process.

With --constant, a `lambda_http` handler that answers a constant (bench/constant-handler, built
with the same profile) runs interleaved with the three: the floor a Rust function cannot go below.
With --functions, the other functions' bootstraps are started cold too, each with its own
environment (events/env.json) and sample event: their exec -> first /next, exec -> first
response, peak RSS and what they answered (any answer counts: the figure is the cold start).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_api import RuntimeApiEmulator  # noqa: E402

HERE = Path(__file__).resolve().parent
METRICS = ("init_ms", "response_ms", "invoke_ms", "peak_rss_kib", "cpu_ms")
ORDER = ("rust", "python", "node")
LABEL = {"rust": "Rust (provided.al2023 bootstrap)", "python": "Python 3.11 + awslambdaric", "node": "Node.js",
         "constant": "Rust lambda_http handler answering a constant"}


# ---- helpers ------------------------------------------------------------------------------
def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS", "Threads"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def exited(pid: int) -> bool:
    """True once the child has exited (without reaping it: wait4 must still see its rusage)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def run_cmd(cmd: list[str], strip: bool = True, **kw) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw).stdout
        return out.strip() if strip else out
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e})"


# ---- what a correct answer looks like ----------------------------------------------------
class Expectation:
    def __init__(self, config: dict, event: dict, key: str) -> None:
        profile = config["profiles"][event["pathParameters"]["profile"]]
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        nin = claims["nin"]
        self.key = key.encode("utf-8")
        self.origin = event["headers"].get("origin")
        self.widget_id = profile["widget_id"]
        self.lifetime = profile["token_lifetime_seconds"]
        # Written out independently of all three implementations (the README's rules).
        self.attributes = {
            "firstName": claims["given_name"],
            "lastName": claims["family_name"],
            "nationalId": nin[:-5] + "*****",
        }
        self.customer_id = claims["sub"]

    def check(self, response, slack_s: float) -> tuple[list[str], dict]:
        """Problems (empty when correct) and what to compare across runtimes."""
        problems: list[str] = []
        seen: dict = {}
        if not isinstance(response, dict):
            return [f"response is not a JSON object: {str(response)[:200]}"], seen
        if response.get("statusCode") != 200:
            problems.append(f"statusCode {response.get('statusCode')} (body {str(response.get('body'))[:200]})")
            return problems, seen
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, want in (("content-type", "application/json"), ("cache-control", "no-store"),
                           ("access-control-allow-origin", self.origin)):
            if headers.get(name) != want:
                problems.append(f"header {name}: {headers.get(name)!r}, expected {want!r}")
        try:
            body = json.loads(response.get("body") or "")
            token = body["data"]
            h, p, s = token.split(".")
            header = json.loads(b64url_decode(h))
            payload = json.loads(b64url_decode(p))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            return problems + [f"body is not {{\"data\": <JWT>}}: {e}"], seen
        if set(body) != {"data"}:
            problems.append(f"body has other fields: {sorted(body)}")
        if header != {"alg": "HS256", "typ": "JWT"}:
            problems.append(f"JWT header {header}")
        if not hmac.compare_digest(b64url(hmac.new(self.key, f"{h}.{p}".encode(), hashlib.sha256).digest()), s):
            problems.append("HS256 signature does not verify with the widget key")
        if payload.get("sub") != self.widget_id:
            problems.append(f"sub {payload.get('sub')!r}")
        if payload.get("attributes") != self.attributes:
            problems.append(f"attributes {payload.get('attributes')}")
        if payload.get("customerId") != self.customer_id:
            problems.append(f"customerId {payload.get('customerId')!r}")
        iat, exp = payload.get("iat"), payload.get("exp")
        if not (isinstance(iat, int) and isinstance(exp, int) and exp - iat == self.lifetime):
            problems.append(f"exp - iat is not {self.lifetime}: iat={iat!r} exp={exp!r}")
        elif abs(iat - time.time()) > slack_s:
            problems.append(f"iat {iat} is not now")
        extra = set(payload) - {"sub", "iat", "exp", "attributes", "customerId"}
        if extra:
            problems.append(f"unexpected claims {sorted(extra)}")
        seen = {
            "header_b64": h,
            "header_json": b64url_decode(h).decode(),
            "claims_without_times": {k: v for k, v in payload.items() if k not in ("iat", "exp")},
            "claim_order": list(payload),
            "lifetime": (exp - iat) if isinstance(iat, int) and isinstance(exp, int) else None,
            "response_headers": sorted(headers),
        }
        return problems, seen


# ---- one cold start -----------------------------------------------------------------------
class Runner:
    def __init__(self, args, config_text: str) -> None:
        self.args = args
        self.root = Path(args.root).resolve()
        self.event_bytes = Path(args.event).read_bytes()
        self.config_text = config_text
        self.logs = Path(args.logs).resolve()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = self.logs / "home"  # an empty HOME: no ~/.aws/config of the machine's
        self.home.mkdir(exist_ok=True)
        rust_bin = Path(args.rust).resolve()
        py_root = HERE / "python"
        node_root = HERE / "node"
        self.runtimes = {
            "rust": {"cmd": [str(rust_bin)], "cwd": rust_bin.parent, "handler": "bootstrap"},
            "python": {"cmd": [args.python, "-m", "awslambdaric", "app.handler"], "cwd": py_root, "handler": "app.handler"},
            "node": {"cmd": [args.node, "index.mjs"], "cwd": node_root, "handler": "index.handler"},
        }
        if args.constant:
            constant = Path(args.constant).resolve()
            self.runtimes["constant"] = {"cmd": [str(constant)], "cwd": constant.parent, "handler": "bootstrap"}
        # The other functions: their own event and environment (in place of mint-token's).
        self.functions = []
        for spec in json.loads(Path(args.functions).read_text()) if args.functions else []:
            binary = Path(spec["bootstrap"]).resolve()
            self.runtimes[f"fn:{spec['name']}"] = {
                "cmd": [str(binary)], "cwd": binary.parent, "handler": "bootstrap",
                "event_bytes": Path(spec["event"]).read_bytes(), "env": spec["env"],
            }
            self.functions.append(spec)

    def env(self, name: str, port: int) -> dict:
        rt = self.runtimes[name]
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_ENDPOINT_URL": self.args.moto,
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": f"whoscalling-coldstart-{name}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/whoscalling-coldstart-{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "_HANDLER": rt["handler"],
            "LAMBDA_TASK_ROOT": str(rt["cwd"]),
            "WHOSCALLING_CONFIG": self.config_text,
            "RUST_LOG": "info",
        } | ({} if "env" not in rt else {"WHOSCALLING_CONFIG": None} | rt["env"])

    def cold_start(self, name: str, tag: str, valgrind: list[str] | None = None, timeout: float = 60.0,
                   extra_args: list[str] | None = None) -> dict:
        rt = self.runtimes[name]
        emulator = RuntimeApiEmulator(rt.get("event_bytes", self.event_bytes), deadline_ms=int(timeout * 1000))
        port = emulator.start()
        cmd = list(rt["cmd"])
        if extra_args:
            cmd = cmd[:1] + extra_args + cmd[1:]
        if valgrind:
            cmd = valgrind + cmd
        log_path = self.logs / f"{tag}.log"
        sample: dict = {"tag": tag}
        with open(log_path, "wb") as log:
            t0 = time.monotonic_ns()
            env = {k: v for k, v in self.env(name, port).items() if v is not None}
            proc = subprocess.Popen(cmd, cwd=rt["cwd"], env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
            end = time.monotonic() + timeout
            while not emulator.wait(0.02):
                if exited(proc.pid) or time.monotonic() > end:
                    break
            answered = emulator.done.is_set()
            status = read_status(proc.pid) if answered else {}
            if valgrind:
                # SIGTERM lets valgrind finish and write the callgrind file; SIGKILL would not.
                os.kill(proc.pid, signal.SIGTERM)
                deadline = time.monotonic() + 300
                while not exited(proc.pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
            if not exited(proc.pid):
                os.kill(proc.pid, signal.SIGKILL)
            _, wstatus, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(wstatus)
        emulator.stop()
        record = emulator.record()
        sample["log"] = str(log_path.relative_to(self.root)) if log_path.is_relative_to(self.root) else str(log_path)
        sample["answered"] = answered
        sample["exit"] = proc.returncode
        if not answered:
            sample["problems"] = ["no response (process exited or timed out); see the log"]
            sample["tail"] = log_path.read_text(errors="replace")[-1500:]
            return sample
        if record["error"]:
            sample["problems"] = [f"{record['error']['kind']} error: {record['error']['body'][:500]}"]
            sample["outcome"] = f"{record['error']['kind']} error"
            if not name.startswith("fn:") or record["first_next_ns"] is None or record["event_sent_ns"] is None:
                return sample
        else:
            response = record["response"]
            sample["outcome"] = f"HTTP {response.get('statusCode')}" if isinstance(response, dict) and "statusCode" in response else "answered"
        ms = lambda ns: round(ns / 1e6, 3)  # noqa: E731
        sample.update({
            "init_ms": ms(record["first_next_ns"] - t0),
            "response_ms": ms(record["response_ns"] - t0),
            "invoke_ms": ms(record["response_ns"] - record["event_sent_ns"]),
            "peak_rss_kib": status.get("VmHWM"),
            "rss_at_response_kib": status.get("VmRSS"),
            "threads_at_response": status.get("Threads"),
            "cpu_ms": round((rusage.ru_utime + rusage.ru_stime) * 1000, 3),
        })
        sample["_response"] = record["response"]
        return sample


def summarize(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def parse_callgrind(path: Path) -> int | None:
    if not path.exists():
        return None
    total = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    return total


def machine_info(args) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        mem = next(l.split(":", 1)[1].strip() for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    return {
        "nproc": run_cmd(["nproc"]),
        "cpu_model": cpu,
        "kernel": platform.release(),
        "machine": platform.machine(),
        "mem_total": mem,
        "os": run_cmd(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
    }


def versions(args) -> dict:
    pkgs = run_cmd([args.python, "-c",
                    "import importlib.metadata as m, json, sys; print(json.dumps({'python': sys.version.split()[0], "
                    "**{p: m.version(p) for p in ('awslambdaric', 'boto3', 'botocore', 'PyJWT')}}))"])
    try:
        py = json.loads(pkgs)
    except ValueError:
        py = {"error": pkgs}
    node_pkgs = {}
    for pkg in ("@aws-sdk/client-secrets-manager", "jose"):
        try:
            node_pkgs[pkg] = json.loads((HERE / "node_modules" / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            node_pkgs[pkg] = None
    rust = Path(args.rust)
    digest = hashlib.sha256(rust.read_bytes()).hexdigest() if rust.exists() else None
    return {
        "rust_bootstrap": {
            "path": str(rust), "bytes": rust.stat().st_size if rust.exists() else None, "sha256": digest,
            "mtime": datetime.datetime.fromtimestamp(rust.stat().st_mtime, datetime.timezone.utc).isoformat() if rust.exists() else None,
        },
        "python": {"interpreter": args.python, **py},
        "node": {"binary": args.node, "version": run_cmd([args.node, "--version"]), **node_pkgs},
        "valgrind": run_cmd(["valgrind", "--version"]),
        "harness_python": sys.version.split()[0],
        # The bootstrap is built from the work tree: say which commit and whether it was clean.
        "git_head": run_cmd(["git", "-C", args.root, "rev-parse", "HEAD"]),
        "git_modified_rust_sources": [
            line[3:] for line in run_cmd(["git", "-C", args.root, "status", "--porcelain", "--",
                                          "functions", "shared", "Cargo.toml", "Cargo.lock"], strip=False).splitlines()
            if line.strip()
        ],
    }


def fmt(metric: str, value) -> str:
    if value is None:
        return "n/a"
    if metric == "peak_rss_kib":
        return f"{value / 1024:.1f}"
    if metric == "ir":
        return f"{value / 1e6:,.0f} M"
    return f"{value:.1f}"


# ---- the secret read alone ----------------------------------------------------------------
def secret_read_ms(moto_url: str, secret_name: str, region: str = "eu-west-1") -> float:
    """One GetSecretValue to moto on a new TCP connection, SigV4-signed as an SDK signs it, timed
    from connect to the last byte of the answer: the part of a cold start that is moto's."""
    import http.client
    from urllib.parse import urlparse

    url = urlparse(moto_url)
    body = json.dumps({"SecretId": secret_name}).encode()
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"content-type": "application/x-amz-json-1.1", "host": url.netloc, "x-amz-date": amz_date,
               "x-amz-target": "secretsmanager.GetSecretValue"}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["POST", "/", "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed,
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/secretsmanager/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = b"AWS4test"
    for part in (day, region, "secretsmanager", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = f"AWS4-HMAC-SHA256 Credential=test/{scope}, SignedHeaders={signed}, Signature={signature}"
    t0 = time.monotonic_ns()
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.monotonic_ns() - t0) / 1e6
    connection.close()
    if response.status != 200 or b"SecretString" not in answer:
        raise RuntimeError(f"GetSecretValue answered {response.status}: {answer[:200]!r}")
    return round(elapsed, 3)


def markdown(results: dict) -> str:
    rows = [
        ("init_ms", "exec → first /next (ms)"),
        ("response_ms", "exec → first response (ms)"),
        ("invoke_ms", "first invocation: event → response (ms)"),
        ("cpu_ms", "CPU time user+sys until kill (ms)"),
        ("peak_rss_kib", "peak RSS, VmHWM at response (MiB)"),
    ]
    rts = results["runtimes"]
    out = [
        f"Cold start, median of {results['config']['runs']} runs (min–max); ratio = other ÷ Rust (> 1: Rust is better)",
        "",
        "| metric | Rust | Python | Node | Python ÷ Rust | Node ÷ Rust |",
        "|---|---|---|---|---|---|",
    ]
    for metric, label in rows:
        cells = []
        for name in ORDER:
            s = rts[name]["summary"].get(metric)
            cells.append(f"{fmt(metric, s['median'])} ({fmt(metric, s['min'])}–{fmt(metric, s['max'])})" if s else "n/a")
        ratios = [results["ratios"][f"{n}_vs_rust"].get(metric) for n in ("python", "node")]
        cells += [f"{r:.1f}×" if r else "n/a" for r in ratios]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for name in ORDER:
        cg = rts[name].get("callgrind") or {}
        cell = fmt("ir", cg.get("ir")) if cg.get("ir") else (cg.get("status") or "not run")
        jitless = rts[name].get("callgrind_jitless")
        if jitless:
            cell += "; with --jitless: " + (fmt("ir", jitless["ir"]) if jitless.get("ir") else jitless["status"])
        cells.append(cell)
    ratios = [results["ratios"][f"{n}_vs_rust"].get("ir") for n in ("python", "node")]
    cells += [f"{r:.1f}×" if r else "n/a" for r in ratios]
    out.append("| user-space instructions, one cold start (callgrind Ir) | " + " | ".join(cells) + " |")
    m = results["machine"]
    out += ["", f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, kernel {m['kernel']}; "
                f"load average before {results['load_before']}, after {results['load_after']}."]
    ok = results["tokens"]
    out.append(f"Tokens: {ok['summary']}")
    constant = (rts.get("constant") or {}).get("summary", {}).get("response_ms")
    if constant:
        r = results["ratios"]["rust_vs_constant"].get("response_ms")
        out += ["", f"A `lambda_http` handler answering a constant, built the same way, answers its first request "
                    f"{fmt('response_ms', constant['median'])} ms after exec (median; peak RSS "
                    f"{fmt('peak_rss_kib', (rts['constant']['summary'].get('peak_rss_kib') or {}).get('median'))} MiB): "
                    f"`mint-token` takes {r:.1f}× that." if r else ""]
    read = (results.get("secret_read_ms") or {}).get("summary")
    if read:
        out += ["", f"Moto alone answers a `GetSecretValue` on a new connection in {fmt('response_ms', read['median'])} ms "
                    f"(median of {read['n']}, {fmt('response_ms', read['min'])}–{fmt('response_ms', read['max'])}; "
                    "timed by the harness between the cold starts): that much of `mint-token`'s first response is moto's."]
    functions = results.get("functions") or {}
    if len(functions) > 1:
        out += ["", "Every function, cold (median; the event each was sent and what it answered):", "",
                "| function | event | answered | exec → first /next (ms) | exec → first response (ms) | peak RSS (MiB) |",
                "|---|---|---|---|---|---|"]
        for name, f in functions.items():
            cells = [fmt(m, (f["summary"].get(m) or {}).get("median")) for m in ("init_ms", "response_ms", "peak_rss_kib")]
            out.append(f"| {name} | `{Path(f['event']).parent.name}/{Path(f['event']).name}` | {', '.join(f['outcomes'])} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--moto", required=True, help="moto server URL")
    ap.add_argument("--secret-value", required=True, help="the widget key stored in moto (to verify tokens)")
    ap.add_argument("--secret-name", default="whoscalling/connect-widget-key", help="the secret mint-token reads")
    ap.add_argument("--config-file", required=True, help="file holding the WHOSCALLING_CONFIG document")
    ap.add_argument("--event", required=True)
    ap.add_argument("--rust", required=True)
    ap.add_argument("--python", required=True, help="python of the reference venv")
    ap.add_argument("--node", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per cold start")
    ap.add_argument("--skip-valgrind", action="store_true")
    ap.add_argument("--valgrind-timeout", type=float, default=1800.0, help="seconds per cold start under callgrind")
    ap.add_argument("--constant", help="bootstrap of the constant-answer lambda_http handler (the floor)")
    ap.add_argument("--functions", help="JSON list of {name, bootstrap, event, env}: the other functions, started cold")
    ap.add_argument("--function-runs", type=int, default=5, help="cold starts per other function")
    ap.add_argument("--logs", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    config_text = Path(args.config_file).read_text().strip()
    config = json.loads(config_text)
    event = json.loads(Path(args.event).read_text())
    expect = Expectation(config, event, args.secret_value)
    runner = Runner(args, config_text)
    say = lambda *a: print("coldstart:", *a, file=sys.stderr, flush=True)  # noqa: E731

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    interleaved = ORDER + (("constant",) if args.constant else ())
    samples = {name: [] for name in interleaved}
    secret_reads = []  # moto's GetSecretValue alone, once per run among the cold starts
    seen = {name: [] for name in ORDER}
    failures = []

    def one(name: str, tag: str, keep: bool) -> None:
        sample = runner.cold_start(name, tag, timeout=args.timeout)
        problems = sample.get("problems", [])
        if name == "constant" and sample.get("answered") and not problems:
            if (sample.pop("_response") or {}).get("statusCode") != 200:
                problems = ["the constant handler did not answer 200"]
        elif sample.get("answered") and not problems:
            problems, what = expect.check(sample.pop("_response"), slack_s=args.timeout + 60)
            if what:
                seen[name].append(what)
        sample.pop("_response", None)
        sample["ok"] = not problems
        sample["problems"] = problems
        if problems:
            failures.append({"runtime": name, "tag": tag, "problems": problems})
        say(f"{tag:>14}: " + (f"init {sample['init_ms']:.1f} ms, response {sample['response_ms']:.1f} ms, "
                              f"VmHWM {sample['peak_rss_kib']} KiB, cpu {sample['cpu_ms']:.0f} ms"
                              if "init_ms" in sample else "no timing")
            + ("" if not problems else f"  PROBLEMS: {problems}"))
        if keep:
            samples[name].append(sample)

    # One discarded start each first: page cache, .pyc files and the moto server warm for all.
    for name in interleaved:
        one(name, f"warmup-{name}", keep=False)
    for i in range(1, args.runs + 1):
        for name in interleaved:  # interleaved A B C A B C: drift in machine load hits all alike
            one(name, f"{name}-{i:02d}", keep=True)
        secret_reads.append(secret_read_ms(args.moto, args.secret_name))

    runtimes = {}
    for name in interleaved:
        good = [s for s in samples[name] if s["ok"]]
        runtimes[name] = {
            "label": LABEL[name],
            "command": runner.runtimes[name]["cmd"],
            "cwd": str(runner.runtimes[name]["cwd"]),
            "samples": samples[name],
            "summary": {m: summarize([s.get(m) for s in good]) for m in METRICS},
            "ok_runs": len(good),
        }

    # ---- instruction counts ---------------------------------------------------------------
    if not args.skip_valgrind:
        for name in ORDER:
            attempts = [(name, [])]
            if name == "node":
                attempts.append((name, ["--jitless"]))  # fallback only if the JIT defeats valgrind
            for rt_name, extra in attempts:
                out_file = runner.logs / f"callgrind.{name}{'.jitless' if extra else ''}.out"
                out_file.unlink(missing_ok=True)
                vg = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}", "--dump-instr=no",
                      "--trace-children=no"]
                if name == "node":
                    vg.append("--smc-check=all")  # V8 writes and patches machine code at run time
                tag = f"callgrind-{name}{'-jitless' if extra else ''}"
                say(f"{tag}: running under valgrind (slow: minutes) ...")
                t = time.monotonic()
                sample = runner.cold_start(rt_name, tag, valgrind=vg, timeout=args.valgrind_timeout, extra_args=extra)
                problems = sample.get("problems", [])
                if sample.get("answered") and not problems:
                    problems, _ = expect.check(sample.pop("_response"), slack_s=args.valgrind_timeout + 60)
                sample.pop("_response", None)
                ir = parse_callgrind(out_file)
                entry = {
                    "ir": ir if not problems else None,
                    "ir_raw": ir,
                    "status": "ok" if (ir and not problems) else "failed",
                    "problems": problems,
                    "node_flags": extra,
                    "valgrind_command": vg,
                    "wall_s_under_valgrind": round(time.monotonic() - t, 1),
                    "response_ms_under_valgrind": sample.get("response_ms"),
                    "log": sample.get("log"),
                    "exit": sample.get("exit"),
                }
                if not entry["ir"] and "tail" in sample:
                    entry["log_tail"] = sample["tail"]
                say(f"{tag}: Ir={ir} status={entry['status']} problems={problems}")
                if extra:
                    runtimes[name]["callgrind_jitless"] = entry
                else:
                    runtimes[name]["callgrind"] = entry
                if entry["status"] == "ok":
                    break

    # ---- ratios and token equivalence ------------------------------------------------------
    def ratio(name: str, metric: str):
        if metric == "ir":
            a = (runtimes[name].get("callgrind") or {}).get("ir")
            b = (runtimes["rust"].get("callgrind") or {}).get("ir")
        else:
            a = (runtimes[name]["summary"].get(metric) or {}).get("median")
            b = (runtimes["rust"]["summary"].get(metric) or {}).get("median")
        return round(a / b, 2) if a and b else None

    ratios = {f"{n}_vs_rust": {m: ratio(n, m) for m in (*METRICS, "ir")} for n in ("python", "node")}
    if args.constant:
        ratios["rust_vs_constant"] = {m: (lambda a, b: round(a / b, 2) if a and b else None)(
            (runtimes["rust"]["summary"].get(m) or {}).get("median"), (runtimes["constant"]["summary"].get(m) or {}).get("median"))
            for m in METRICS}

    # ---- the other functions, cold (any answer counts; what it was is recorded) -------------
    functions = {"mint-token": {"event": str(Path(args.event)), "outcomes": ["HTTP 200"],
                                "summary": runtimes["rust"]["summary"], "ok_runs": runtimes["rust"]["ok_runs"]}}
    for spec in runner.functions:
        name, fn_samples = spec["name"], []
        for i in range(0, args.function_runs + 1):  # the first is a discarded warm-up
            sample = runner.cold_start(f"fn:{name}", f"{name}-{i:02d}", timeout=args.timeout)
            sample.pop("_response", None)
            say(f"{name + '-' + str(i):>14}: " + (f"init {sample['init_ms']:.1f} ms, response {sample['response_ms']:.1f} ms, "
                                                  f"VmHWM {sample['peak_rss_kib']} KiB, {sample.get('outcome')}"
                                                  if "init_ms" in sample else f"no timing: {sample.get('problems')}"))
            if i > 0:
                fn_samples.append(sample)
        good = [s for s in fn_samples if "init_ms" in s]
        functions[name] = {
            "event": spec["event"], "samples": fn_samples, "ok_runs": len(good),
            "outcomes": sorted({s.get("outcome", "no answer") for s in fn_samples}),
            "summary": {m: summarize([s.get(m) for s in good]) for m in METRICS},
        }

    claims = {n: [json.dumps(s["claims_without_times"], sort_keys=True) for s in seen[n]] for n in ORDER}
    distinct = {c for n in ORDER for c in claims[n]}
    headers = {n: sorted({s["header_json"] for s in seen[n]}) for n in ORDER}
    order = {n: sorted({",".join(s["claim_order"]) for s in seen[n]}) for n in ORDER}
    equivalent = len(distinct) == 1 and all(claims[n] for n in ORDER) and not failures
    tokens = {
        "equivalent": equivalent,
        "summary": (
            "all responses 200 with an HS256 JWT that verifies with the widget key; same claims from all three "
            "(sub = widget id, attributes firstName/lastName/nationalId masked, customerId = sub, exp - iat = "
            f"{expect.lifetime})" if equivalent else f"NOT equivalent or failures: {failures[:5]}"
        ),
        "claims_without_times": json.loads(next(iter(distinct))) if len(distinct) == 1 else sorted(distinct),
        "header_json_per_runtime": headers,
        "header_bytes_identical": len({h for n in ORDER for h in headers[n]}) == 1,
        "claim_order_per_runtime": order,
        "response_headers_per_runtime": {n: (seen[n][0]["response_headers"] if seen[n] else None) for n in ORDER},
        "failures": failures,
    }

    results = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "what": "Cold start of mint-token (Rust) vs Python and Node references on a local Lambda Runtime API "
                "emulator, Secrets Manager = moto on loopback; see bench/coldstart/README.md",
        "config": {
            "runs": args.runs, "order": "interleaved " + " ".join(ORDER) + " per run, after one discarded warm-up each",
            "event": str(Path(args.event)), "timeout_s": args.timeout, "valgrind": not args.skip_valgrind,
            "memory_size_env": 128, "memory_limit_enforced": False,
        },
        "machine": machine_info(args),
        "versions": versions(args),
        "load_before": " ".join(load_before),
        "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "runtimes": runtimes,
        "ratios": ratios,
        "tokens": tokens,
        "functions": functions,
        "secret_read_ms": {"what": "one GetSecretValue to moto on a new TCP connection (connect to last byte), "
                                   "SigV4-signed, once per run between the cold starts",
                           "samples": secret_reads, "summary": summarize(secret_reads)},
    }
    table = markdown(results)
    results["markdown"] = table  # bench/report.py embeds it in docs/PERFORMANCE.md
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    (runner.logs / "table.md").write_text(table + "\n")
    print(table)
    return 0 if (equivalent and all(runtimes[n]["ok_runs"] == args.runs for n in interleaved)) else 1


if __name__ == "__main__":
    sys.exit(main())
