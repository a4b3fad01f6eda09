"""Auto-approval benchmark: what a burst request costs when the policy has auto-approval rules.

    python -m benchmarks.auto_approval [--people N] [--events N] [--repeat R] [--reuse PATH]

Generates the synthetic org of benchmarks/org.py (1,000 people, 500,000 events over 13 weeks by
default), leaves the weekly rollups as the Monday job does, then times `request 10k ...` through
the chat core (the dispatcher, as every adapter calls it) with a rule that compares acceptance
with the use case's baseline (`min_acceptance` > 0: the 4 weeks' org-wide medians are read)
and with one that does not, against the same request with no rules. Each request is a new
requester (their standing is read afresh); the median of `--repeat` is shown with CPU time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from benchmarks.org import OrgSize, build, email
from bot.bootstrap import Settings, bootstrap
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage
from budgets.policy import AutoApprovalRule
from budgets.windows import week_by_key
from scoring.overview import store_rollups, window_by_key
from storage.database import upgrade_schema

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
RULE = AutoApprovalRule("bench", 50_000, 1_000, Decimal("0.5"), 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--reuse", type=Path, help="time a database made by an earlier run")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="tokenbot-auto-"))
    url = f"sqlite:///{args.reuse or directory / 'auto.db'}"
    upgrade_schema(url)
    if args.reuse is None:
        size = OrgSize(people=args.people, teams=max(args.people // 100, 1), events=args.events)
        build(url, size, week_by_key(UTC, "2026-W46").end)
        print(f"org in {url}")
    services = bootstrap(Settings(database_url=url), clock=lambda: NOW)
    with services.db.unit_of_work() as uow:
        store_rollups(uow.session, services.policy, window_by_key(services.policy, "4W", NOW), NOW)
        uow.commit()
    base = services.policy
    cases = (
        ("no rules", ()),
        ("a rule, min_acceptance 0", (replace(RULE, min_acceptance=Decimal(0)),)),
        ("a rule, min_acceptance 0.5 (baseline read)", (RULE,)),
    )
    person = 1
    print(f"{'case':<45} {'median ms':>10} {'CPU ms':>8} {'auto-approved':>14}")
    for name, rules in cases:
        services.policy = replace(base, auto_approvals=rules)
        dispatcher = Dispatcher(services)
        walls, cpus, approved = [], [], 0
        for _ in range(args.repeat):
            person += 1
            wall, cpu = time.perf_counter(), time.process_time()
            reply = dispatcher.handle_message(
                IncomingMessage("console", email(person), "request 10k benchmark")
            )
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            approved += reply.context.get("auto_approved", False) is True
        print(
            f"{name:<45} {statistics.median(walls):>10.1f} {statistics.median(cpus):>8.1f} "
            f"{approved:>10}/{args.repeat}"
        )


if __name__ == "__main__":
    main()
