"""`tokenbot directory import FILE | alias add ALIAS EMAIL`: manage the people directory."""

from __future__ import annotations

import sys

from bot.bootstrap import Services
from budgets.directory import add_alias, import_directory


def register(sub) -> None:  # noqa: ANN001
    directory = sub.add_parser("directory", help="the people directory").add_subparsers(
        dest="directory_command", required=True
    )
    imp = directory.add_parser("import", help="upsert people from a CSV (all-or-nothing)")
    imp.add_argument("file")
    imp.set_defaults(run=import_people)
    alias = directory.add_parser("alias", help="map provider identities to people").add_subparsers(
        dest="alias_command", required=True
    )
    add = alias.add_parser(
        "add", help="map ALIAS (e.g. openai-key:key_abc) to the person with EMAIL"
    )
    add.add_argument("alias")
    add.add_argument("email")
    add.add_argument(
        "--reassign",
        action="store_true",
        help="also attribute the alias's unattributed usage to the person and debit it",
    )
    add.set_defaults(run=alias_add)


def import_people(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    try:
        with open(args.file, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as exc:
        raise CommandFailed(f"cannot read {args.file}: {exc.strerror}") from exc
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, text, services.policy, services.clock())
        if not result.ok:
            print(
                f"error: {args.file} was not imported ({len(result.errors)} problem(s)); nothing was written:",
                file=sys.stderr,
            )
            for error in result.errors:
                print(f"  {error}", file=sys.stderr)
            return 2
        uow.commit()
    print(
        f"imported {args.file}: {result.created} created, {result.updated} updated, "
        f"{result.teams_created} new teams, {result.grants_issued} allotments issued"
    )
    return 0


def alias_add(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    if args.reassign:
        from bot.cli.usage import reassign

        return reassign(services, args.alias, args.email)
    with services.db.unit_of_work() as uow:
        try:
            person = add_alias(uow.session, args.alias, args.email)
        except LookupError as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    print(f"{args.alias} -> {person.email}")
    return 0
