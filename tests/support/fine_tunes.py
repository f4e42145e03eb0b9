"""Fine-tuning on the embedded AWS: a PUSH leaderboard with consolidated arithmetic rows (from
:mod:`.runs`), a Dr.Gero model on the sandbox's fine-tuning backend, and the sweeper's poll."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .identity import api_principal
from .runs import Setup, make_setup

FT_KEY = "sk-" + "ft-sandbox-test-key-0123456789"  # assembled: never literal in a traceback
BASE = "sandbox/off-by-one"


def fine_tune_env(sandbox: str, **extra: str) -> dict[str, str]:
    return {
        "DRGERO_FINE_TUNE__BASE_URL": f"{sandbox}/v1",
        "DRGERO_FINE_TUNE__API_KEY": FT_KEY,
        "DRGERO_FINE_TUNE__PROVIDER_NAME": "sandbox",
        "DRGERO_FINE_TUNE__MIN_TRAINING_ROWS": "5",
        "DRGERO_FINE_TUNE__MAX_RETRIES": "0",
        "DRGERO_FINE_TUNE__PRICE_PER_M_TRAINED_TOKENS_USD": "4.0",
        "DRGERO_LIMITS__MIN_ROWS_BEFORE_MODELS": "1",
        "DRGERO_LIMITS__MODELS_MAX_BODY_BYTES": "4096",
        **extra,
    }


@dataclass
class FineTuneSetup:
    setup: Setup
    model_id: str

    @property
    def aws(self) -> Any:
        return self.setup.aws

    @property
    def lb(self) -> str:
        return self.setup.leaderboard_id

    def api(self, method: str, path: str, body: Any = None, principal: Any = None) -> tuple[int, Any]:
        return self.setup.api(method, path, body, principal)

    def create(self, **body: Any) -> tuple[int, Any]:
        payload = {"leaderboard_id": self.lb, "base_model": BASE, **body}
        return self.api("POST", f"/api/models/{self.model_id}/fine-tunes", payload)

    def job(self, job_id: str) -> dict[str, Any]:
        status, answer = self.api("GET", f"/api/models/{self.model_id}/fine-tunes/{job_id}")
        assert status == 200, answer
        return answer

    def model(self) -> dict[str, Any]:
        status, answer = self.api("GET", f"/api/models/{self.model_id}")
        assert status == 200, answer
        return answer

    def poll(self) -> dict[str, Any]:
        return self.aws.functions.invoke("SweeperFunction", {"job": "fine_tune_poll"})

    def poll_until_done(self, job_id: str, limit: int = 10) -> dict[str, Any]:
        for _ in range(limit):
            job = self.job(job_id)
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            self.poll()
        raise AssertionError(f"job {job_id} did not finish: {self.job(job_id)}")


def make_fine_tune_setup(aws, sandbox: str, n_rows: int = 12, **env: str) -> FineTuneSetup:
    aws.functions.extra_env.update(fine_tune_env(sandbox, **env))
    setup = make_setup(aws, sandbox, toys=(BASE,) if n_rows else (), n_rows=n_rows)
    status, model = setup.api(
        "POST",
        "/api/models",
        {
            "name": "arith-bot",
            "base_model": BASE,
            "endpoint": {
                "url": f"{sandbox}/v1/chat/completions",
                "model": BASE,
                "auth": {"kind": "bearer", "secret": FT_KEY},
            },
            "probe": False,
        },
    )
    assert status == 201, model
    return FineTuneSetup(setup, model["id"])


def principal(workspace_id: str, *scopes: str):
    return api_principal(workspace_id, scopes=frozenset(scopes))


def sandbox_job(sandbox: str, backend_job_id: str) -> dict[str, Any]:
    """Reads the backend's job (note: a read moves a sandbox job one state on)."""
    return httpx.get(
        f"{sandbox}/v1/fine_tuning/jobs/{backend_job_id}/events",
        headers={"Authorization": f"Bearer {FT_KEY}"},
        trust_env=False,
    ).json()
