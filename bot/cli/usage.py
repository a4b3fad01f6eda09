"""`tokenbot usage unattributed | reassign IDENTITY EMAIL | unknown | reprice | reconcile`: usage
the directory or the policy does not know yet, attributing it once the person is in the
directory, and an export set against the ledger (`bot.cli.reconcile`)."""

from __future__ import annotations

from datetime import timedelta

from bot.bootstrap import Services
from bot.cli import reconcile
from budgets.attribution import (
    reassign_identity,
    repriceable_models,
    unattributed_identities,
    uncategorised_use_cases,
    unknown_models,
)
from budgets.repricing import reprice_unknown
from budgets.windows import week_keys_between
from message_templates import plural
from scoring.rollups import forget_week


def register(sub) -> None:  # noqa: ANN001
    usage = sub.add_parser("usage", help="recorded usage: unattributed and unknown").add_subparsers(
        dest="usage_command", required=True
    )
    listing = usage.add_parser(
        "unattributed", help="identities whose usage maps to nobody in the directory"
    )
    listing.set_defaults(run=list_unattributed)
    reassign = usage.add_parser(
        "reassign",
        help="attribute an identity's unattributed usage to a person and debit it (idempotent)",
    )
    reassign.add_argument("identity", help="as listed by `usage unattributed`")
    reassign.add_argument("email", help="the person it belongs to")
    reassign.set_defaults(run=run_reassign)
    unknown = usage.add_parser(
        "unknown", help="models missing from the catalog and use cases missing from the policy"
    )
    unknown.set_defaults(run=list_unknown)
    reprice = usage.add_parser(
        "reprice",
        help="book usage recorded at an unknown price at the price its model now resolves to "
        "(append-only ledger entries; idempotent)",
    )
    reprice.set_defaults(run=run_reprice)
    reconcile.register(usage)


def list_unattributed(args, services: Services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        identities = unattributed_identities(session)
    if not identities:
        print("no unattributed usage: every identity maps to a person")
        return 0
    print(f"{'identity':40} {'events':>10} {'budget tokens':>15}  last seen")
    for u in identities:
        print(f"{u.identity:40} {u.events:>10,} {u.budget_tokens:>15,}  {u.last_seen:%Y-%m-%d}")
    print(
        "\nMap one with `tokenbot usage reassign IDENTITY EMAIL` (or `tokenbot directory alias "
        "add IDENTITY EMAIL --reassign`)."
    )
    return 0


def reassign(services: Services, identity: str, email: str) -> int:
    """Shared by `usage reassign` and `directory alias add --reassign`."""
    from bot.cli import CommandFailed

    with services.db.unit_of_work() as uow:
        try:
            result = reassign_identity(
                uow.session, identity, email, services.policy, services.clock()
            )
        except LookupError as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    alias = f"; {result.identity} now maps to {result.email}" if result.alias_added else ""
    print(
        f"re-assigned {result.usage_events:,} usage events ({result.budget_tokens:,} budget "
        f"tokens, {result.overdraft:,} of them overdraft) and {result.outcomes:,} outcomes "
        f"from {result.identity} to {result.email}{alias}"
    )
    return 0


def run_reassign(args, services: Services) -> int:  # noqa: ANN001
    return reassign(services, args.identity, args.email)


def list_unknown(args, services: Services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        models = unknown_models(session, services.policy)
        use_cases = uncategorised_use_cases(session, services.policy)
        repriceable = repriceable_models(session, services.policy)
    for title, names, hint in (
        (
            "unknown models (nothing resolves them; counted at weight 1, price unknown)",
            models,
            "[models] (a model, or an alias of one)",
        ),
        ("use cases missing from the policy (recorded as uncategorised)", use_cases, "[use_cases]"),
    ):
        if not names:
            print(f"no {title.split(' (')[0]}")
            continue
        print(f"{title}; add them to the policy's {hint}:")
        for n in names:
            print(
                f"  {n.name:40} {n.events:>10,} events {n.tokens:>15,} tokens  last {n.last_seen:%Y-%m-%d}"
            )
    if repriceable:
        print(
            f"\n{plural(sum(n.events for n in repriceable), 'event')} of "
            f"{plural(len(repriceable), 'model')} were "
            "recorded at an unknown price but resolve now; `tokenbot usage reprice` books them:"
        )
        for n in repriceable:
            resolved = services.policy.resolve_model(n.name)
            print(f"  {n.name:40} -> {resolved.name} ({resolved.source} price, {resolved.via})")
    return 0


def run_reprice(args, services: Services) -> int:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        result = reprice_unknown(uow.session, services.policy, services.clock())
        if result.between is not None:
            # Weekly scoring rollups summed the old budget tokens and costs: build them again.
            earliest, latest = result.between
            zone = services.policy.periods.zone
            for week in week_keys_between(zone, earliest, latest + timedelta(seconds=1)):
                forget_week(uow.session, week)
        uow.commit()
    if not result.repriced:
        print("nothing to reprice: no usage at an unknown price resolves to a model yet")
    for m in result.repriced:
        print(
            f"{m.sent} -> {m.resolved} ({m.source} price, {m.via}): {m.events:,} events, "
            f"{m.budget_tokens_before:,} -> {m.budget_tokens_after:,} budget tokens, "
            f"cost ${m.cost_micros_after / 1_000_000:,.2f}"
        )
    if result.repriced:
        print(
            f"ledger: {result.drawn:,} budget tokens drawn ({result.overdraft:,} overdraft), "
            f"{result.given_back:,} given back"
        )
    if result.still_unknown:
        print("still unknown (see `tokenbot usage unknown`): " + ", ".join(result.still_unknown))
    return 0
