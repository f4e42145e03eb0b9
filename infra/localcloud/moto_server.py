"""The embedded AWS: moto in server mode, bound to loopback, in a child process of its own.

Why a child process rather than a thread of this one: moto keeps its state in module-level
globals, so two servers in one process would share every table and queue (and moto's
in-process ``mock_aws``, used by unit tests, resets those same globals). A process per
LocalCloud gives each one its own state, and moto's request handling does not compete for
this process's GIL with the handlers it serves.

The child (``localcloud.moto_child``) runs ``moto.server.ThreadedMotoServer``, reports the
port it bound (port 0 picks a free one) on stdout, and exits when its stdin closes, so it never
outlives its parent, even when the parent is killed. It makes moto's DynamoDB and S3 requests
atomic first, as they are in AWS (``localcloud.moto_atomic``). Given a ``state_file``, it
restores moto's state from it and keeps it saved (``localcloud.moto_state``): every
``save_interval`` seconds when it changed, on :meth:`MotoServer.save`, and on a clean stop.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path


class StateRestoreError(RuntimeError):
    """The saved state could not be restored (another moto version, or an unreadable file)."""


class MotoServer:
    """One moto server process on ``host``; ``url`` is its endpoint once started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
        state_file: Path | None = None,
        save_interval: float = 2.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the embedded AWS binds to loopback only, not {host!r}")
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.state_file = state_file
        self.save_interval = save_interval
        self.port: int | None = None
        self.restored = False  # whether start() restored a saved state
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._save_lock = threading.Lock()

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("moto server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        env = dict(os.environ)
        env.pop("AWS_ENDPOINT_URL", None)
        argv = [sys.executable, "-m", "localcloud.moto_child", self.host, str(self.requested_port)]
        if self.state_file is not None:
            argv += [str(self.state_file), str(self.save_interval)]
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter running our own module
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # Its own session: a Ctrl-C in the terminal (SIGINT to the whole foreground process
            # group) must not kill it before its final save. It stops when we close its stdin
            # (stop(), or our own death), which is when it saves and exits.
            start_new_session=True,
        )
        threading.Thread(target=self._read_lines, args=(self._proc.stdout,), daemon=True).start()
        fields = self._read_port_line().split()  # PORT <port> RESTORED <0|1>
        self.port = int(fields[1])
        self.restored = fields[3] == "1"
        # Drain stderr so a chatty server can never block on a full pipe.
        threading.Thread(target=self._drain, args=(self._proc.stderr,), daemon=True).start()
        return self.url

    def _read_lines(self, stream) -> None:  # noqa: ANN001 - the child's stdout
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def _next_line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return ""

    def _read_port_line(self) -> str:
        assert self._proc is not None
        line = self._next_line(self.startup_timeout)
        if line.startswith("PORT "):
            return line
        if line.startswith("ERROR "):
            self.stop()
            raise StateRestoreError(line.removeprefix("ERROR "))
        err = ""
        if self._proc.poll() is not None and self._proc.stderr is not None:
            err = self._proc.stderr.read()[-2000:]
        self.stop()
        raise RuntimeError(f"the embedded AWS (moto server) did not start: {err or line or 'timed out'}")

    @staticmethod
    def _drain(stream) -> None:  # noqa: ANN001 - a pipe
        for _line in stream:
            pass

    def save(self, timeout: float = 30.0) -> None:
        """Saves the state file now (raises when it could not be saved)."""
        if self._proc is None or self._proc.stdin is None:
            raise RuntimeError("moto server not started")
        with self._save_lock:
            self._proc.stdin.write("SAVE\n")
            self._proc.stdin.flush()
            answer = self._next_line(timeout)
        if answer != "SAVED":
            raise RuntimeError(f"the embedded AWS did not save its state: {answer or 'timed out'}")

    def kill(self) -> None:
        """Kills the moto process outright (SIGKILL), as a crash would; for tests."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """Closes the child's stdin (it stops serving and saves its state) and waits for it."""
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
