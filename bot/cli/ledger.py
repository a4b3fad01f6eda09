"""`tokenbot ledger verify | expire`: check projections against entries; roll a period over."""

from __future__ import annotations

from bot.bootstrap import Services
from budgets.ledger import expire, verify
from budgets.periods import period_by_key, period_for, previous_period


def register(sub) -> None:  # noqa: ANN001
    ledger = sub.add_parser("ledger", help="the token ledger").add_subparsers(
        dest="ledger_command", required=True
    )
    ver = ledger.add_parser(
        "verify", help="recompute every balance from the ledger entries and report differences"
    )
    ver.set_defaults(run=verify_ledger)
    exp = ledger.add_parser(
        "expire", help="close a finished period (idempotent); default: the last finished one"
    )
    exp.add_argument("--period", help="e.g. 2026-10 (monthly) or 2026-Q3 (quarterly)")
    exp.set_defaults(run=expire_period)


def verify_ledger(args, services: Services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        problems = verify(session)
    if problems:
        print(f"ledger verify: {len(problems)} difference(s):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print("ledger verify: every balance matches its entries")
    return 0


def expire_period(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    now = services.clock()
    calendar = services.policy.periods
    try:
        period = (
            period_by_key(calendar, args.period)
            if args.period
            else previous_period(calendar, period_for(calendar, now))
        )
    except ValueError as exc:
        raise CommandFailed(str(exc)) from exc
    with services.db.unit_of_work() as uow:
        try:
            result = expire(uow.session, services.policy, period, now)
        except ValueError as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    if result.superseded_by:
        print(
            f"period {period.key} needs no closing: {result.superseded_by} was closed first and "
            f"already lapsed what {period.key} had left; nothing changed"
        )
    elif result.already_done:
        print(f"period {period.key} was already closed; nothing changed")
    else:
        print(
            f"closed {period.key}: {result.expired_tokens:,} tokens expired from {result.expired_grants} grants, "
            f"{result.rolled_over_tokens:,} rolled over, {result.issued_grants} new allotments"
        )
    return 0
