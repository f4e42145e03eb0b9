"""Pure parts of the inference path: the production-target cache and the worst-case cost the
budget reserves."""

from __future__ import annotations

from drgero.inference.service import MESSAGE_OVERHEAD_TOKENS, worst_case_cost
from drgero.inference.target import ModelChoice, TargetCache
from drgero.providers.types import Pricing


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_target_cache_reuses_an_entry_for_its_ttl_then_resolves_again():
    clock = Clock()
    cache = TargetCache(5.0, clock=clock)
    loads: list[int] = []

    def load():
        loads.append(1)
        return f"target-{len(loads)}"

    assert cache.get(("ws", "lb"), load) == "target-1"
    clock.now += 4.9
    assert cache.get(("ws", "lb"), load) == "target-1"
    assert cache.get(("ws2", "lb"), load) == "target-2"  # keyed by workspace too: no cross-tenant hits
    clock.now += 0.2
    assert cache.get(("ws", "lb"), load) == "target-3"
    cache.invalidate(("ws", "lb"))
    assert cache.get(("ws", "lb"), load) == "target-4"


def test_a_failed_resolution_is_not_cached():
    cache = TargetCache(5.0, clock=Clock())
    calls = 0

    def failing():
        nonlocal calls
        calls += 1
        raise LookupError("no production model")

    for _ in range(2):
        try:
            cache.get(("ws", "lb"), failing)
        except LookupError:
            pass
    assert calls == 2


def test_a_zero_ttl_never_caches_and_the_cache_is_bounded():
    cache = TargetCache(0.0, clock=Clock())
    assert [cache.get(("w", "l"), lambda i=i: i) for i in range(3)] == [0, 1, 2]
    bounded = TargetCache(60.0, clock=Clock(), max_entries=4)
    for i in range(10):
        bounded.get(("w", str(i)), lambda i=i: i)
    assert len(bounded._entries) <= 4


def _choice(pricing: Pricing | None) -> ModelChoice:
    return ModelChoice("mdl_1", "m", "custom", target=None, pricing=pricing)


def test_worst_case_cost_bounds_input_by_bytes_and_output_by_max_tokens():
    price = Pricing(input_per_m_usd=1.0, output_per_m_usd=2.0)
    rendered = "héllo"  # 6 UTF-8 bytes
    expected = ((6 + MESSAGE_OVERHEAD_TOKENS) * 1.0 + 100 * 2.0) / 1_000_000
    assert worst_case_cost((_choice(price),), rendered, 100) == expected
    dearer = Pricing(input_per_m_usd=10.0, output_per_m_usd=20.0)
    assert worst_case_cost((_choice(price), _choice(dearer)), rendered, 100) == expected * 10  # any model may answer


def test_worst_case_cost_is_unknown_without_max_tokens_or_a_price():
    price = Pricing(input_per_m_usd=1.0, output_per_m_usd=2.0)
    assert worst_case_cost((_choice(price),), "x", None) is None
    assert worst_case_cost((_choice(price), _choice(None)), "x", 10) is None
