"""The request bodies of fine-tune jobs (their schemas are the API's documentation)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from drgero.core.validation import StrictModel


class Hyperparameters(StrictModel):
    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1, le=1024)
    learning_rate_multiplier: float | None = Field(default=None, gt=0.0, le=10.0)


class FineTuneCreate(StrictModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "leaderboard_id": "lb_01jd3k0000000000000000000",
                    "base_model": "gpt-4o-mini-2024-07-18",
                    "hyperparameters": {"n_epochs": 3},
                    "validation_fraction": 0.1,
                }
            ]
        },
    )

    leaderboard_id: str = Field(min_length=1, max_length=100)
    # The backend's name of the model to start from (e.g. gpt-4o-mini-2024-07-18).
    base_model: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
    hyperparameters: Hyperparameters | None = None
    # Share of rows held out as the validation file (deterministic per row id).
    validation_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
