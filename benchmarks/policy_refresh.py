"""What keeping the policy current costs each request: `Services.refresh_policy`.

    python -m benchmarks.policy_refresh [--database-url URL] [--calls N]

On a throwaway SQLite database (or the PostgreSQL database given, which must be empty and
upgraded), measures the median wall time per call of:

* `refresh_policy()` when no new version was applied: the one indexed read of the latest
  version number, run before every chat command, dashboard page, API call and job;
* `refresh_policy()` right after a new version was applied: that read plus parsing and
  validating the stored TOML (once per process per apply);
* a plain `SELECT 1` through the same engine, for scale (a round trip to the database).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bot.bootstrap import Settings, bootstrap
from budgets.directory import import_directory
from budgets.policy import DEFAULT_POLICY_PATH
from budgets.policy_store import admin_named, apply
from storage.database import upgrade_schema

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
PEOPLE = """email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id
ceo@bench.test,Cleo Chief,Leadership,,member;admin,default,,
"""


def median_ms(call: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        url = args.database_url or f"sqlite:///{Path(workdir) / 'bench.db'}"
        upgrade_schema(url)
        services = bootstrap(Settings(database_url=url), clock=lambda: NOW)
        try:
            with services.db.unit_of_work() as uow:
                import_directory(uow.session, PEOPLE, services.policy, NOW)
                uow.commit()
            admin = admin_named(services.db, "ceo@bench.test")
            base = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
            apply(services.db, base.replace("2_000_000", "2_000_001"), admin, NOW)
            services.refresh_policy()

            def select_one() -> None:
                with services.db.read() as session:
                    session.execute(text("SELECT 1"))

            unchanged = median_ms(services.refresh_policy, args.calls)
            trip = median_ms(select_one, args.calls)
            rounds = max(args.calls // 50, 5)
            changed_times = []
            for n in range(rounds):
                apply(services.db, base.replace("2_000_000", f"{2_000_002 + n}"), admin, NOW)
                start = time.perf_counter()
                services.refresh_policy()
                changed_times.append(time.perf_counter() - start)
            changed = statistics.median(changed_times) * 1000
        finally:
            services.close()
    backend = url.split(":", 1)[0]
    print(f"policy refresh on {backend}, median of {args.calls} calls ({rounds} applies)")
    print(f"  refresh_policy(), no new version:    {unchanged:.3f} ms")
    print(f"  refresh_policy(), after an apply:    {changed:.3f} ms")
    print(f"  SELECT 1 through the same engine:    {trip:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
