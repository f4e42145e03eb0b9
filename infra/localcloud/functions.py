"""Loads the template's functions in-process, each with the environment it gets in AWS.

Every function folder has its own ``app.py``; they are imported under unique module names
(``drgero_fn_<folder>``) so they can live side by side in one process. Handlers read their
settings at import (cold start), so a module is imported with the function's environment in
place, once per FunctionRuntime (a fresh runtime is a fresh cold start).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from localcloud.resources import CreatedResources, function_environment
from localcloud.template import REPO_ROOT, Template

_env_lock = threading.RLock()


@contextmanager
def patched_environ(values: dict[str, str]):
    """Temporarily sets environment variables (imports are serialized by a lock)."""
    with _env_lock:
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


@contextmanager
def _event_loop():
    """Lambda runs handlers on the main thread, which has an asyncio event loop (Mangum relies
    on ``asyncio.get_event_loop()``). Locally handlers run on request and poller threads,
    which have none: give the thread one for the invocation, and close it afterwards."""
    if threading.current_thread() is threading.main_thread():
        yield
        return
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


class LambdaContext:
    """The parts of the Lambda context object that Powertools and our handlers read."""

    def __init__(self, function_name: str, timeout_seconds: int, memory_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_ms = timeout_seconds * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def handler_entry(handler: str) -> tuple[str, str]:
    """(module, attribute) of a template ``Handler``. A shell script (``run.sh``) is a function
    behind the Lambda Web Adapter: in AWS the adapter runs the script's web app, which calls
    the folder's ``app.stream_handler``; locally the cloud plays the adapter's part and invokes
    ``app.handler`` (buffered) or ``app.stream_handler`` (streamed routes) directly."""
    if handler.endswith(".sh"):
        return "app", "handler"
    module, _, attribute = handler.rpartition(".")
    return module, attribute


class FunctionRuntime:
    """Imports and invokes the template's functions with their AWS environments."""

    def __init__(
        self,
        template: Template,
        created: CreatedResources,
        extra_env: dict[str, str] | None = None,
        overrides: dict[str, Callable[[dict, Any], Any]] | None = None,
    ):
        self.template = template
        self.created = created
        self.extra_env = extra_env or {}
        # Test doubles by logical id or folder name: invoked instead of the real handler
        # (with the same event and context), e.g. a consumer that fails on purpose.
        self.overrides: dict[str, Callable[[dict, Any], Any]] = {}
        for name, fn in (overrides or {}).items():
            self.overrides[name if name in template.functions else self.logical_id_for_folder(name)] = fn
        self._modules: dict[str, ModuleType] = {}
        self._load_lock = threading.Lock()

    def environment(self, logical_id: str) -> dict[str, str]:
        env = function_environment(self.template, logical_id, self.created)
        env.update(self.extra_env)
        return env

    def properties(self, logical_id: str) -> dict[str, Any]:
        props = dict(self.template.data.get("Globals", {}).get("Function", {}))
        props.update(self.template.functions[logical_id].get("Properties", {}))
        return props

    def module(self, logical_id: str) -> ModuleType:
        with self._load_lock:
            if logical_id not in self._modules:
                self._modules[logical_id] = self._import(logical_id)
            return self._modules[logical_id]

    def handler(self, logical_id: str) -> Callable[[dict, Any], Any]:
        props = self.properties(logical_id)
        _module_name, func_name = handler_entry(props["Handler"])
        return getattr(self.module(logical_id), func_name)

    def invoke(self, logical_id: str, event: dict, streaming: bool = False) -> Any:
        """Runs the function's handler. ``streaming``: its ``stream_handler`` instead, when it
        has one (a route with ``ResponseTransferMode: RESPONSE_STREAM``; in AWS the adapter
        in front of its ASGI app plays this part): the answer's body may then be a generator."""
        props = self.properties(logical_id)
        context = LambdaContext(logical_id, int(props.get("Timeout", 3)), int(props.get("MemorySize", 128)))
        override = self.overrides.get(logical_id)
        with _event_loop():
            if override is not None:
                return override(event, context)
            if streaming and hasattr(self.module(logical_id), "stream_handler"):
                return self.module(logical_id).stream_handler(event, context)
            return self.handler(logical_id)(event, context)

    def resolve(self, name: str) -> str:
        """A logical id from a logical id or a folder name (``consolidate``)."""
        return name if name in self.template.functions else self.logical_id_for_folder(name)

    def logical_id_for_arn(self, arn: str) -> str | None:
        """The template function whose (local) ARN or name is ``arn``."""
        for logical in self.template.functions:
            if arn in (self.created.attrs.get(logical, {}).get("Arn"), self.created.refs.get(logical)):
                return logical
        return None

    def logical_id_for_folder(self, folder: str) -> str:
        for logical, res in self.template.functions.items():
            if Path(res["Properties"]["CodeUri"]).name == folder:
                return logical
        raise KeyError(f"no function with CodeUri functions/{folder}/ in template.yaml")

    def _import(self, logical_id: str) -> ModuleType:
        props = self.properties(logical_id)
        module_name, _ = handler_entry(props["Handler"])
        code_dir = REPO_ROOT / props["CodeUri"]
        path = code_dir / f"{module_name.replace('.', '/')}.py"
        unique = f"drgero_fn_{code_dir.name}_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(unique, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        from drgero.core.settings import load_settings

        with patched_environ(self.environment(logical_id)):
            load_settings.cache_clear()
            try:
                spec.loader.exec_module(module)
            finally:
                load_settings.cache_clear()
        return module
