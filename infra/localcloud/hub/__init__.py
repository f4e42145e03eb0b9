"""The local Hugging Face hub: a hub-compatible file server for GET-mode datasets, offline.

The local cloud starts it (``[local] hub_port``, default 4020) and points the product's
Hugging Face endpoint (``providers.huggingface_endpoint``, huggingface_hub's ``endpoint``) at
it, so an ordinary ``https://huggingface.co/datasets/{owner}/{name}/resolve/main/{file}`` URL
reads ``{hub_dir}/datasets/{owner}/{name}/{file}``. The tests use the same server with repos
added in memory (``tests/support/hf_server.py``).

Modules, one job each:

- ``server``: :class:`HubServer`, the HTTP answers (dataset info, resolve/blob, whoami) with
  the Hub's shapes and error codes.
- ``repos``: the repos: in memory, or read from the ``hub_dir`` folder (``.hub.json`` sets
  private / gated / tokens / branches).
- ``samples``: the sample repos written into ``hub_dir`` at start (owner ``drgero-samples``).
"""

from __future__ import annotations

from pathlib import Path

from localcloud.hub.samples import SAMPLE_TOKEN, write_samples
from localcloud.hub.server import HubServer

__all__ = ["SAMPLE_TOKEN", "HubServer", "start_hub"]


def start_hub(host: str, port: int, hub_dir: str | Path, samples: bool = True) -> HubServer:
    """Writes the samples into ``hub_dir`` (unless ``samples`` is off) and serves it."""
    Path(hub_dir).mkdir(parents=True, exist_ok=True)
    if samples:
        write_samples(hub_dir)
    return HubServer(hub_dir, host=host, port=port).start()
