"""moto's AWS server (Secrets Manager and the rest of moto's services) for the integration tests.

Run (after scripts/setup-tools):
    .tools/venv/bin/python tests/peers/moto-server.py

Listens on 127.0.0.1 on a random free port, prints exactly one line
`listening on http://127.0.0.1:<port>` on stdout once the server answers HTTP, and exits
when its stdin reaches EOF (spawn it with a piped stdin so it dies with the test process).
Request logs go to stderr. Point the AWS SDK at it with endpoint_url / AWS_ENDPOINT_URL and
dummy credentials (AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=eu-west-1).
`POST <url>/moto-api/reset` wipes all state between tests.
"""

import os
import sys
import time
import urllib.error
import urllib.request

from moto.server import ThreadedMotoServer


def wait_until_answering(url: str, deadline_s: float = 30.0) -> None:
    # A real Secrets Manager call; any HTTP answer (even an error status) means it is up.
    req = urllib.request.Request(
        url + "/",
        data=b"{}",
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.ListSecrets",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/eu-west-1/secretsmanager/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    end = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                resp.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def main() -> int:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    wait_until_answering(url)
    sys.stdout.write(f"listening on {url}\n")
    sys.stdout.flush()

    # Block until stdin closes (the spawning test went away), then exit.
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except (KeyboardInterrupt, OSError):
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no graceful shutdown needed: all state is in memory


if __name__ == "__main__":
    sys.exit(main())
