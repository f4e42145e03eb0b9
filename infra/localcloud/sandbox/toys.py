"""The toy model catalogue: every model the sandbox serves, named as a toy (``sandbox/…``,
"Sandbox (toy): …"), with its price, latency and behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from localcloud.sandbox.behaviours import almanac, coin, echo, off_by_one, solve
from localcloud.sandbox.judge import grade

# Every OpenAI chat parameter a toy may honour (see localcloud.sandbox.chat).
ALL_PARAMETERS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "structured_outputs",
    "logprobs",
    "top_logprobs",
)

CREATED = 1_735_689_600  # fixed timestamps keep answers deterministic


@dataclass
class ToyModel:
    id: str
    name: str
    description: str
    prompt_price: float  # USD per token, as OpenRouter reports it
    completion_price: float
    hugging_face_id: str
    created: int
    latency: dict[str, float]  # latency_last_30m, ms
    answer: Callable[[str], str]
    # OpenRouter's supported_parameters: what the toy honours (localcloud.sandbox.chat).
    parameters: tuple[str, ...] = ("max_tokens", "temperature")
    # True: ``answer`` reads every user message of the conversation (the judge reads its
    # sections, and a retry adds a follow-up), not only the last one.
    reads_conversation: bool = False


def latency_of(p50: float) -> dict[str, float]:
    return {"p50": p50, "p75": round(p50 * 1.3, 1), "p90": round(p50 * 1.8, 1), "p99": round(p50 * 3.5, 1)}


TOYS: dict[str, ToyModel] = {
    toy.id: toy
    for toy in [
        ToyModel(
            "sandbox/arithmetic-exact",
            "Sandbox (toy): Arithmetic, exact",
            "Toy model: solves 'a op b' exactly.",
            0.000001,
            0.000002,
            "sandbox/arithmetic-exact",
            CREATED + 400,
            latency_of(120),
            solve,
            ALL_PARAMETERS,
        ),
        ToyModel(
            "sandbox/coin-flip-half",
            "Sandbox (toy): Coin flip, right about half the time",
            "Toy model: right or off by one, by a hash of the input.",
            0.0000002,
            0.0000004,
            "sandbox/coin-flip-half",
            CREATED + 300,
            latency_of(60),
            coin,
        ),
        ToyModel(
            "sandbox/off-by-one",
            "Sandbox (toy): Off by one, never right",
            "Toy model: always the right answer plus one.",
            0.0000001,
            0.0000001,
            "",
            CREATED + 200,
            latency_of(40),
            off_by_one,
        ),
        ToyModel(
            "sandbox/echo",
            "Sandbox (toy): Echo",
            "Toy model: repeats the last user message.",
            0.0,
            0.0,
            "sandbox/echo",
            CREATED + 100,
            latency_of(10),
            echo,
            ALL_PARAMETERS,
        ),
        ToyModel(
            "sandbox/almanac",
            "Sandbox (toy): Almanac, knows the local hub's short-answer sample",
            "Toy model: answers the questions of drgero-samples/short-answer-qa; 'I don't know.' otherwise.",
            # Priced and timed like the judge below, out of auto-select's usual filters.
            0.0000015,
            0.000003,
            "",
            CREATED + 25,
            latency_of(700),
            almanac,
        ),
        ToyModel(
            "sandbox/judge-toy",
            "Sandbox (toy): Judge, compares with the reference answer",
            "Toy judge: scores a candidate by whether it gives the reference answer and the rubric's quoted "
            "phrases (deterministic; cannot tell a paraphrase from a wrong answer).",
            # Priced and timed (reported latency only) so auto-select's usual filters leave it
            # out: it is a judge, not a candidate.
            0.0000015,
            0.000003,
            "",
            CREATED + 50,
            latency_of(700),
            grade,
            reads_conversation=True,
        ),
        ToyModel(
            "sandbox/flaky",
            "Sandbox (toy): Flaky echo",
            "Toy model: echoes; '[fail]' in the input answers 500, '[429]' answers 429.",
            0.000003,
            0.000015,
            "",
            CREATED,
            latency_of(900),
            echo,
        ),
    ]
}
