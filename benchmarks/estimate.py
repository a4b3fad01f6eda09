"""How much an estimate costs next to a bare tiktoken encode, and that vocabularies load once.

    python -m benchmarks.estimate [--repeats N] [--kb N]

Builds a throwaway SQLite database (a small org, 10,000 recorded calls of the use case, an
approved template), then, in one process and interleaved round by round so drift hits every
line alike, times the median of N runs of:

* the bare tiktoken encode of a ~100 KB text (the goal: an estimate costs at most 1.3x this);
* the parts of an estimate on their own: counting, the sensitive-data scan, the database reads;
* the whole `budgets.estimate.estimate()` for gpt-4o (one encoding) and for claude-sonnet-4
  (its proxy encoding, plus the cheapest model's own encoding).

Vocabulary loading is shown from `load_encoding`'s cache counters: the first call per encoding
loads (and takes the time), every later call is a dictionary lookup.
"""

from __future__ import annotations

import argparse
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


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.estimate", description=__doc__)
    parser.add_argument("--repeats", type=int, default=31, help="rounds (the median is shown)")
    parser.add_argument("--kb", type=int, default=100, help="size of the text in KB")
    args = parser.parse_args(argv)

    text = sample_text(args.kb)
    print(f"text: {len(text.encode()):,} bytes UTF-8, {len(text):,} characters")

    # -- vocabulary loads once per process
    print("\nvocabulary loading (budgets.tokenizer.load_encoding, cached per process):")
    for name in ("o200k_base", "cl100k_base"):
        before = load_encoding.cache_info().misses
        first = timed(lambda name=name: load_encoding(name))
        second = timed(lambda name=name: load_encoding(name))
        loads = load_encoding.cache_info().misses - before
        print(
            f"  {name:<12} first call {first * 1000:8.1f} ms (loads: {loads}), "
            f"second call {second * 1_000_000:6.1f} us"
        )

    with tempfile.TemporaryDirectory() as directory:
        services = seeded_services(Path(directory))
        policy = services.policy
        encoding = load_encoding("o200k_base")
        with services.db.read() as session:
            ann = session.query(Person).filter_by(email="ann@bench.test").one()

            lines: dict[str, Callable[[], object]] = {
                "bare tiktoken encode (o200k_base)": lambda: encoding.encode(text),
                "count_tokens (o200k_base)": lambda: count_tokens(text, "o200k_base"),
                "find_sensitive": lambda: find_sensitive(text),
                # Everything but counting a long text: the database reads (history, template,
                # balance) and the fixed work of an estimate.
                "estimate() of one word (database reads)": lambda: estimate(
                    session, policy, ann, "word", "gpt-4o", "seo-brief", now=NOW
                ),
                "estimate(): gpt-4o, seo-brief": lambda: estimate(
                    session, policy, ann, text, "gpt-4o", "seo-brief", now=NOW
                ),
                "estimate(): claude-sonnet-4, seo-brief": lambda: estimate(
                    session, policy, ann, text, "claude-sonnet-4", "seo-brief", now=NOW
                ),
            }
            loads_before = load_encoding.cache_info().misses
            samples: dict[str, list[float]] = {name: [] for name in lines}
            for function in lines.values():  # warm-up round, not counted
                function()
            for _ in range(args.repeats):
                for name, function in lines.items():
                    samples[name].append(timed(function))
            loads_during = load_encoding.cache_info().misses - loads_before

        services.close()

    bare = median_ms(samples["bare tiktoken encode (o200k_base)"])
    print(f"\nmedian of {args.repeats} interleaved rounds:")
    for name, values in samples.items():
        ms = median_ms(values)
        print(f"  {name:<46} {ms:8.2f} ms  {ms / bare:5.2f}x bare encode")
    parts = sum(
        median_ms(samples[name])
        for name in (
            "count_tokens (o200k_base)",
            "find_sensitive",
            "estimate() of one word (database reads)",
        )
    )
    print(
        f"  {'(the parts one after the other)':<46} {parts:8.2f} ms  {parts / bare:5.2f}x bare encode"
    )
    print(
        f"\nvocabulary loads during {args.repeats + 1} rounds of estimates: {loads_during} "
        f"(load_encoding cache: {load_encoding.cache_info()})"
    )
    goal = median_ms(samples["estimate(): gpt-4o, seo-brief"]) / bare
    print(
        f"goal: estimate <= 1.3x bare encode -> {goal:.2f}x ({'met' if goal <= 1.3 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
