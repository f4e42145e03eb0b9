"""The embedded AWS: moto in server mode, bound to loopback, in a child process of its own.

Why a child process rather than a thread of this one: moto keeps its state in module-level
globals, so two servers in one process would share every table and queue (and moto's
in-process ``mock_aws``, used by unit tests, resets those same globals). A process per
LocalCloud gives each one its own state, and moto's request handling does not compete for
this process's GIL with the handlers it serves.

The child runs ``moto.server.ThreadedMotoServer``, reports the port it bound (port 0 picks a
free one) on stdout, and exits when its stdin closes, so it never outlives its parent, even
when the parent is killed. It makes moto's DynamoDB and S3 requests atomic first, as they are
in AWS (``localcloud.moto_atomic``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time

_CHILD = r"""
import sys

from localcloud.moto_atomic import install

install()  # before moto's URL maps are built: they capture the handler methods
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address=sys.argv[1], port=int(sys.argv[2]), verbose=False)
server.start()
print("PORT", server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # returns at EOF: the parent stopped us or died
server.stop()
"""


class MotoServer:
    """One moto server process on ``host``; ``url`` is its endpoint once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 30.0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the embedded AWS binds to loopback only, not {host!r}")
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("moto server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        env = dict(os.environ)
        env.pop("AWS_ENDPOINT_URL", None)
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter running a fixed script
            [sys.executable, "-c", _CHILD, self.host, str(self.requested_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self._read_port_line()
        self.port = int(line.split()[1])
        # Drain stderr so a chatty server can never block on a full pipe.
        threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True).start()
        return self.url

    def _read_port_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if not result or not result[0].startswith("PORT "):
            err = ""
            if self._proc.poll() is not None and self._proc.stderr is not None:
                err = self._proc.stderr.read()[-2000:]
            self.stop()
            raise RuntimeError(f"the embedded AWS (moto server) did not start: {err or 'timed out'}")
        return result[0]

    @staticmethod
    def _drain(stream) -> None:
        for _line in stream:
            pass

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            # OSError: the child is already gone, so there is nothing left to signal.
            with contextlib.suppress(OSError):
                proc.stdin.close()
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
