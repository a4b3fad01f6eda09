"""`tokenbot bench`: the benchmark table, the same as `python -m benchmarks` (benchmarks/suite.py)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ANN001
    from benchmarks.suite import add_arguments

    bench = sub.add_parser(
        "bench",
        help="measure every speed goal against a baseline measured in the same run "
        "(a synthetic org of 10,000 people and 5 million usage events; --small for CI)",
    )
    add_arguments(bench)
    bench.set_defaults(run=run_bench, standalone=True)


def run_bench(args) -> int:  # noqa: ANN001
    from benchmarks.suite import run_benchmarks

    return run_benchmarks(args)
