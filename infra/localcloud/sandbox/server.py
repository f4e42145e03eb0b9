"""Serving the sandbox: a threaded HTTP server on loopback in a background thread, with a stop
function (used by the local cloud, the tests' session fixture and the benchmarks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from localcloud.sandbox.handler import Handler
from localcloud.sandbox.state import SandboxState


class _SandboxServer(ThreadingHTTPServer):
    # The stdlib default backlog is 5: a run's worker pool (dozens of concurrent calls) would
    # queue on connect instead of reaching the toy models' configured latency.
    request_queue_size = 256
    daemon_threads = True


def start_sandbox(host: str, port: int) -> tuple[str, Callable[[], None]]:
    """Serve the sandbox on ``host:port`` (port 0: any free port) in a background thread.

    Returns the base URL (``http://127.0.0.1:4010``) and a stop function that shuts the
    server down and joins its thread.
    """
    state = SandboxState()
    handler = type("SandboxHandler", (Handler,), {"state": state})
    server = _SandboxServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="drgero-sandbox", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    display_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return f"http://{display_host}:{bound_port}", stop
