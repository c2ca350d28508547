"""A small AWS Lambda Runtime API emulator on loopback, for the cold-start benchmark.

Written for this project (Python standard library only). It serves exactly one invocation:

    GET  /2018-06-01/runtime/invocation/next             the sample event, with the headers
                                                          Lambda-Runtime-Aws-Request-Id,
                                                          Lambda-Runtime-Deadline-Ms,
                                                          Lambda-Runtime-Invoked-Function-Arn,
                                                          Lambda-Runtime-Trace-Id;
                                                          any later /next waits (the sandbox is
                                                          "frozen") until the emulator stops
    POST /2018-06-01/runtime/invocation/{id}/response    the handler's answer       -> 202
    POST /2018-06-01/runtime/invocation/{id}/error       a handler error            -> 202
    POST /2018-06-01/runtime/init/error                  an initialisation error    -> 202

and records `time.monotonic_ns()` (CLOCK_MONOTONIC, the same clock in every process of the
machine) when the first /next arrives and when the response (or error) body has been read.

Use it from Python (`RuntimeApiEmulator`, as bench/coldstart/harness.py does) or on its own:

    python3 bench/coldstart/runtime_api.py --event events/mint-token/valid-authorizer-get.json

prints `listening on 127.0.0.1:PORT`, then, once the invocation has been answered, one JSON line
with the timestamps, the response and any error, and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
DEFAULT_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:whoscalling-coldstart"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a parked second /next must not keep the process alive
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # The harness kills the handler process mid-connection on purpose: not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class RuntimeApiEmulator:
    """One-invocation Runtime API. `start()` returns the port; `wait()` blocks until answered."""

    def __init__(
        self,
        event: bytes,
        *,
        deadline_ms: int = 30_000,
        function_arn: str = DEFAULT_ARN,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.event = event
        self.deadline_ms = deadline_ms
        self.function_arn = function_arn
        self.request_id = str(uuid.uuid4())
        self.trace_id = (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        )
        # What happened, in monotonic nanoseconds.
        self.first_next_ns: int | None = None
        self.event_sent_ns: int | None = None
        self.response_ns: int | None = None
        self.response_body: bytes | None = None
        self.error: dict | None = None  # {"kind": "invocation"|"init", "headers": ..., "body": ...}
        self.next_calls = 0
        self.done = threading.Event()  # set on response, invocation error or init error
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._served = False
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> int:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self._server.server_address[1]

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def record(self) -> dict:
        body = None
        if self.response_body is not None:
            try:
                body = json.loads(self.response_body)
            except ValueError:
                body = self.response_body.decode("utf-8", "replace")
        return {
            "request_id": self.request_id,
            "first_next_ns": self.first_next_ns,
            "event_sent_ns": self.event_sent_ns,
            "response_ns": self.response_ns,
            "next_calls": self.next_calls,
            "response": body,
            "error": self.error,
        }

    # ---- HTTP ----------------------------------------------------------------------------
    def _handler_class(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real Runtime API
            server_version = "whoscalling-runtime-api-emulator"
            sys_version = ""

            def log_message(self, *args) -> None:  # quiet: the harness reports what matters
                pass

            def _read_body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    return self.rfile.read(length)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            # trailers, up to the empty line
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                return b""

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:
                now = time.monotonic_ns()
                if self.path != f"{PREFIX}/invocation/next":
                    self._send(404, b'{"errorType":"NotFound"}')
                    return
                with emulator._lock:
                    emulator.next_calls += 1
                    first = not emulator._served
                    if first:
                        emulator._served = True
                        emulator.first_next_ns = now
                if not first:
                    # The sandbox would be frozen here; the harness kills the process instead.
                    emulator._stop.wait()
                    self.close_connection = True
                    return
                deadline = int(time.time() * 1000) + emulator.deadline_ms
                # Taken before writing: a handler can answer before this thread runs again.
                emulator.event_sent_ns = time.monotonic_ns()
                self._send(
                    200,
                    emulator.event,
                    {
                        "Lambda-Runtime-Aws-Request-Id": emulator.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline),
                        "Lambda-Runtime-Invoked-Function-Arn": emulator.function_arn,
                        "Lambda-Runtime-Trace-Id": emulator.trace_id,
                    },
                )

            def do_POST(self) -> None:
                body = self._read_body()
                now = time.monotonic_ns()
                path = self.path
                if path == f"{PREFIX}/init/error":
                    emulator.error = {"kind": "init", "headers": dict(self.headers), "body": body.decode("utf-8", "replace")}
                    emulator.response_ns = now
                    self._send(202, b'{"status":"OK"}')
                    emulator.done.set()
                    return
                parts = path[len(PREFIX) :].split("/") if path.startswith(PREFIX) else []
                # ['', 'invocation', '<id>', 'response' | 'error']
                if len(parts) == 4 and parts[1] == "invocation" and parts[3] in ("response", "error"):
                    if parts[2] != emulator.request_id:
                        self._send(400, b'{"errorType":"InvalidRequestID"}')
                        return
                    emulator.response_ns = now
                    if parts[3] == "response":
                        emulator.response_body = body
                    else:
                        emulator.error = {
                            "kind": "invocation",
                            "headers": dict(self.headers),
                            "body": body.decode("utf-8", "replace"),
                        }
                    self._send(202, b'{"status":"OK"}')
                    emulator.done.set()
                    return
                self._send(404, b'{"errorType":"NotFound"}')

        return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--event", required=True, help="JSON file served by the first /next")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deadline-ms", type=int, default=30_000)
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    args = parser.parse_args()
    with open(args.event, "rb") as f:
        event = f.read()
    emulator = RuntimeApiEmulator(event, port=args.port, deadline_ms=args.deadline_ms)
    emulator.start()
    print(f"listening on {emulator.address}", flush=True)
    answered = emulator.wait(args.timeout)
    print(json.dumps(emulator.record()), flush=True)
    emulator.stop()
    return 0 if answered and emulator.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
