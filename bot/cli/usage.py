"""`tokenbot usage unattributed | reassign IDENTITY EMAIL | unknown`: usage the directory or
the policy does not know yet, and attributing it once the person is in the directory."""

from __future__ import annotations

from bot.bootstrap import bootstrap
from budgets.attribution import (
    reassign_identity,
    unattributed_identities,
    uncategorised_use_cases,
    unknown_models,
)


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


def list_unattributed(args) -> int:  # noqa: ANN001
    services = bootstrap()
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


def reassign(identity: str, email: str) -> int:
    """Shared by `usage reassign` and `directory alias add --reassign`."""
    from bot.cli import CommandFailed

    services = bootstrap()
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


def run_reassign(args) -> int:  # noqa: ANN001
    return reassign(args.identity, args.email)


def list_unknown(args) -> int:  # noqa: ANN001
    services = bootstrap()
    with services.db.read() as session:
        models = unknown_models(session, services.policy)
        use_cases = uncategorised_use_cases(session, services.policy)
    for title, names, hint in (
        (
            "models missing from the catalog (counted at weight 1, price unknown)",
            models,
            "[models]",
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
    return 0
