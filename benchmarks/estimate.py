"""How much an estimate costs next to a bare tiktoken encode, and that vocabularies load once.

    python -m benchmarks.estimate [--repeats N] [--kb N]

Builds a throwaway SQLite database (a small org, 10,000 recorded calls of the use case, an
approved template), then, in one process, takes the median of N rounds of:

* the bare tiktoken encode of a ~100 KB text (the goal: an estimate costs at most 1.3x this);
* the parts of an estimate on their own: counting, the sensitive-data scan, the database reads;
* the whole `budgets.estimate.estimate()` for gpt-4o (one encoding) and for claude-sonnet-4
  (its proxy encoding, plus the cheapest model's own encoding).

Every round runs every line once, in a new random order: drift in the machine's speed hits
every line alike, and no line always runs with the caches another left behind (the encode
right after a cl100k_base encode, for one, is about 10% slower). Each line shows wall time and
CPU time (`time.process_time`); on a busy machine wall times swing with the load, CPU times
much less.

Vocabulary loading is shown from `load_encoding`'s cache counters: the first call per encoding
loads (and takes the time), every later call is a dictionary lookup.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.bootstrap import Settings, bootstrap
from budgets.directory import import_directory
from budgets.estimate import estimate
from budgets.ledger import record_usage
from budgets.sensitive import find_sensitive
from budgets.tokenizer import count_tokens, load_encoding
from storage.database import upgrade_schema
from storage.models import Person, PromptTemplate

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
PEOPLE = """email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id
mia@bench.test,Mia Manager,Marketing,,member;manager,power-user,,
ann@bench.test,Ann Analyst,Marketing,mia@bench.test,member,default,,
"""
MIXED = (
    "Estimate what a prompt will cost before you send it: tokens, budget and money. "
    "我们的内部代币经济让每个团队都能公平地使用人工智能。 東京は日本の首都です。 "
    "مرحبا بكم في نظام الرموز الداخلي. Оцените стоимость запроса. Deploy done 🎉🚀👍🏽\n"
)


def sample_text(kilobytes: int) -> str:
    """Real text of about `kilobytes` KB (UTF-8): this project's code and docs, and scripts."""
    parts = [
        (ROOT / "README.md").read_text(),
        (ROOT / "budgets" / "policy.py").read_text(),
        (ROOT / "budgets" / "ledger.py").read_text(),
        MIXED * 20,
    ]
    text = "\n".join(parts)
    while len(text.encode()) < kilobytes * 1000:
        text += "\n" + text
    encoded = text.encode()[: kilobytes * 1000]
    return encoded.decode("utf-8", errors="ignore")


class Call:
    """A recorded call for the history the estimate reads (ledger.UsageLike)."""

    def __init__(self, i: int, template_id: str | None):
        self.id = f"bench-{i}"
        self.user = "mia@bench.test"
        self.model = "gpt-4o"
        self.input_tokens = 600 if template_id else 1_000
        self.output_tokens = 400
        self.cached_input_tokens = 0
        self.use_case = "seo-brief"
        self.project = None
        self.template_id = template_id
        self.conversation_id = None
        self.timestamp = NOW - timedelta(minutes=7 * i + 1)
        self.prompt_fingerprint = None


def seeded_services(directory: Path):  # noqa: ANN201 - Services
    url = f"sqlite:///{directory / 'bench.db'}"
    upgrade_schema(url)
    services = bootstrap(Settings(database_url=url), clock=lambda: NOW)
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, PEOPLE, services.policy, NOW)
        assert result.ok, result.errors
        uow.session.add(
            PromptTemplate(id="tpl-seo", name="SEO brief", use_case="seo-brief", created_at=NOW)
        )
        calls = [Call(i, "tpl-seo" if i % 4 == 0 else None) for i in range(10_000)]
        record_usage(uow.session, calls, services.policy, NOW)
        uow.commit()
    return services


BARE = "bare tiktoken encode (o200k_base)"
GOAL = "estimate(): gpt-4o, seo-brief"
CLAUDE = "estimate(): claude-sonnet-4, seo-brief"


def timed(function: Callable[[], object]) -> tuple[float, float]:
    """Seconds of wall time and of CPU time that one call takes."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimate", description=__doc__)
    parser.add_argument("--repeats", type=int, default=31, help="rounds (the median is shown)")
    parser.add_argument("--kb", type=int, default=100, help="size of the text in KB")
    args = parser.parse_args(argv)

    text = sample_text(args.kb)
    print(f"text: {len(text.encode()):,} bytes UTF-8, {len(text):,} characters")
    print(
        f"cores: {os.cpu_count()}, load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )

    # -- vocabulary loads once per process
    print("\nvocabulary loading (budgets.tokenizer.load_encoding, cached per process):")
    for name in ("o200k_base", "cl100k_base"):
        before = load_encoding.cache_info().misses
        first, _ = timed(lambda name=name: load_encoding(name))
        second, _ = timed(lambda name=name: load_encoding(name))
        loads = load_encoding.cache_info().misses - before
        print(
            f"  {name:<12} first call {first * 1000:8.1f} ms (loads: {loads}), "
            f"second call {second * 1_000_000:6.1f} us"
        )

    with tempfile.TemporaryDirectory() as directory:
        services = seeded_services(Path(directory))
        policy = services.policy
        o200k, cl100k = load_encoding("o200k_base"), load_encoding("cl100k_base")
        with services.db.read() as session:
            ann = session.query(Person).filter_by(email="ann@bench.test").one()

            def estimate_of(model: str, words: str = text) -> Callable[[], object]:
                return lambda: estimate(session, policy, ann, words, model, "seo-brief", now=NOW)

            lines: dict[str, Callable[[], object]] = {
                BARE: lambda: o200k.encode(text),
                "bare tiktoken encode (cl100k_base)": lambda: cl100k.encode(text),
                "count_tokens (o200k_base)": lambda: count_tokens(text, "o200k_base"),
                "find_sensitive": lambda: find_sensitive(text),
                # Everything but counting and scanning a long text: the database reads (history,
                # template, remaining balance) and the fixed work of an estimate.
                "estimate() of one word (database reads)": estimate_of("gpt-4o", "word"),
                GOAL: estimate_of("gpt-4o"),
                CLAUDE: estimate_of("claude-sonnet-4"),
            }
            loads_before = load_encoding.cache_info().misses
            walls: dict[str, list[float]] = {name: [] for name in lines}
            cpus: dict[str, list[float]] = {name: [] for name in lines}
            for function in lines.values():  # warm-up round, not counted
                function()
            order = list(lines)
            shuffle = random.Random(0).shuffle
            for _ in range(args.repeats):
                shuffle(order)
                for name in order:
                    wall, cpu = timed(lines[name])
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            loads_during = load_encoding.cache_info().misses - loads_before

        services.close()

    wall_ms = {name: statistics.median(values) * 1000 for name, values in walls.items()}
    cpu_ms = {name: statistics.median(values) * 1000 for name, values in cpus.items()}
    print(f"\nmedian of {args.repeats} rounds (shuffled)        wall time               CPU time")
    for name in lines:
        print(
            f"  {name:<42} {wall_ms[name]:8.2f} ms {wall_ms[name] / wall_ms[BARE]:5.2f}x"
            f"   {cpu_ms[name]:8.2f} ms {cpu_ms[name] / cpu_ms[BARE]:5.2f}x"
        )
        if name == "estimate() of one word (database reads)":
            parts = ("count_tokens (o200k_base)", "find_sensitive", name)
            wall_parts = sum(wall_ms[part] for part in parts)
            cpu_parts = sum(cpu_ms[part] for part in parts)
            print(
                f"  {'(these three one after the other)':<42} {wall_parts:8.2f} ms "
                f"{wall_parts / wall_ms[BARE]:5.2f}x   {cpu_parts:8.2f} ms "
                f"{cpu_parts / cpu_ms[BARE]:5.2f}x"
            )
    print(
        f"\nvocabulary loads during {args.repeats + 1} rounds of estimates: {loads_during} "
        f"(load_encoding cache: {load_encoding.cache_info()})"
    )
    goal = wall_ms[GOAL] / wall_ms[BARE]
    print(
        f"goal: a gpt-4o estimate <= 1.3x a bare encode (wall time) -> {goal:.2f}x "
        f"({'met' if goal <= 1.3 else 'NOT met'}); CPU time {cpu_ms[GOAL] / cpu_ms[BARE]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
