"""The benchmark harness (bench/__main__.py): discovery, table output, argument errors.
The benchmarks themselves are not run here (they time things; `make bench` runs them)."""

from __future__ import annotations

import pytest

from bench.__main__ import discover, format_table, main


def test_discovers_benchmark_modules_but_not_helpers():
    names = discover()
    assert "cold_start" in names
    assert not [n for n in names if n.startswith("_")]


def test_table_has_every_column_in_first_seen_order_and_right_aligns_numbers():
    table = format_table([{"name": "a", "ms": 1.5}, {"name": "bbbb", "ms": 1234.5, "error": "x"}])
    header, rule, first, second = table.splitlines()
    assert header.split() == ["name", "ms", "error"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert first.split() == ["a", "1.5"]
    assert second.split() == ["bbbb", "1,234.5", "x"]
    # Numbers end in the same column (right-aligned).
    assert first.index("1.5") + len("1.5") == second.index("1,234.5") + len("1,234.5")


def test_empty_result_says_so():
    assert "no rows" in format_table([])


def test_unknown_module_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no_such_benchmark"])
    assert exc.value.code == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_list_prints_modules(capsys):
    assert main(["--list"]) == 0
    assert "cold_start" in capsys.readouterr().out.split()


def test_quick_sets_only_the_knobs_not_already_set(monkeypatch, capsys):
    from bench import __main__ as harness

    monkeypatch.setattr(harness, "run_module", lambda name: (name, [{"figure": 1.0}], 0.5))
    monkeypatch.setenv("BENCH_PEERS_ROUNDS", "9")
    for name in harness.QUICK:
        if name != "BENCH_PEERS_ROUNDS":
            monkeypatch.delenv(name, raising=False)
    assert main(["--quick", "cold_start"]) == 0
    import os

    assert os.environ["BENCH_PEERS_ROUNDS"] == "9"  # the caller's value wins
    assert os.environ["BENCH_COLD_START_RUNS"] == harness.QUICK["BENCH_COLD_START_RUNS"]
    assert "figure" in capsys.readouterr().out


def test_several_modules_run_each_in_its_own_interpreter_and_a_failure_does_not_stop_the_rest(monkeypatch, capsys):
    import subprocess

    from bench import __main__ as harness

    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv[-1])
        return subprocess.CompletedProcess(argv, 1 if argv[-1] == "auth" else 0)

    monkeypatch.setattr(harness.subprocess, "run", fake_run)
    assert main(["auth", "cold_start", "traces"]) == 1
    assert calls == ["auth", "cold_start", "traces"]
    out = capsys.readouterr().out
    assert "time per module" in out
    assert [line.split()[0] for line in out.splitlines()[-4:]] == ["auth", "cold_start", "traces", "all"]
