"""The moto server process (``python -m localcloud.moto_child HOST PORT [STATE_FILE INTERVAL]``),
started and spoken to by ``localcloud.moto_server.MotoServer``.

It makes moto's requests atomic (``moto_atomic``), restores the state file if one is given and
exists (``moto_state``), serves, and then speaks a line protocol with its parent:

- stdout ``PORT <port> RESTORED <0|1>`` once serving, or ``ERROR <message>`` and exit 3 when the
  state file cannot be restored (another moto version: the message suggests ``--fresh``);
- stdin ``SAVE``: snapshot now, answered ``SAVED`` or ``SAVE-FAILED <message>`` on stdout;
- stdin EOF (the parent stopped us or died): stop serving, save one last time, exit.

With a state file, the state is also saved every INTERVAL seconds when it changed, so a
``kill -9`` loses at most that much.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from localcloud.moto_atomic import install


def _say(line: str) -> None:
    print(line, flush=True)


def _restore(state_file: Path | None) -> bool:
    from localcloud import moto_state

    if state_file is None or not state_file.exists():
        return False
    moto_state.restore(moto_state.read(state_file))
    return True


def _serve_commands(saver) -> None:  # noqa: ANN001 - a moto_state.Saver or None
    for line in sys.stdin:
        if line.strip() != "SAVE":
            continue
        if saver is None:
            _say("SAVE-FAILED no state file")
            continue
        try:
            saver.save()
        except (OSError, RuntimeError) as exc:
            _say(f"SAVE-FAILED {exc}")
        else:
            _say("SAVED")


def main(argv: list[str]) -> int:
    install()  # before moto's URL maps are built: they capture the handler methods
    from moto.server import ThreadedMotoServer

    from localcloud import moto_state

    host, port = argv[0], int(argv[1])
    state_file = Path(argv[2]) if len(argv) > 2 else None
    try:
        restored = _restore(state_file)
    except moto_state.StateVersionError as exc:
        _say(f"ERROR {exc}")
        return 3
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        _say(f"ERROR the local state {state_file} cannot be read ({exc}); start with --fresh to discard it")
        return 3
    saver = moto_state.Saver(state_file, float(argv[3])) if state_file is not None else None
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    if saver is not None:
        saver.start()
    _say(f"PORT {server.get_host_and_port()[1]} RESTORED {int(restored)}")
    _serve_commands(saver)  # returns at EOF
    server.stop()
    if saver is not None:
        saver.stop()
        saver.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
