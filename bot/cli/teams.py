"""`tokenbot teams package [--output FILE] [--app-id ID] [--host HOST]` builds the Teams app
package to upload; `tokenbot teams unreachable` lists who tokenbot cannot reach on Teams yet."""

from __future__ import annotations

import os

from bot.bootstrap import Services, Settings


def register(sub) -> None:  # noqa: ANN001
    teams = sub.add_parser("teams", help="Microsoft Teams").add_subparsers(
        dest="teams_command", required=True
    )
    package = teams.add_parser(
        "package", help="build the Teams app package (manifest.json and icons in a zip)"
    )
    package.add_argument("--output", default="tokenbot-teams.zip", help="the zip to write")
    package.add_argument("--app-id", help="the bot's Microsoft App ID (default: MICROSOFT_APP_ID)")
    package.add_argument(
        "--host",
        help="the public HTTPS host of `tokenbot serve` (default: TOKENBOT_PUBLIC_HOST)",
    )
    package.set_defaults(run=build, standalone=True)
    unreachable = teams.add_parser(
        "unreachable", help="people tokenbot cannot message on Teams yet, and why"
    )
    unreachable.set_defaults(run=list_unreachable)


def build(args) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed
    from bot.core.registry import registry
    from bot.teams.package import build_package

    app_id = args.app_id or Settings.from_env().microsoft_app_id
    host = args.host or os.environ.get("TOKENBOT_PUBLIC_HOST", "")
    if not app_id:
        raise CommandFailed("give --app-id (or set MICROSOFT_APP_ID): the Azure bot's App ID")
    if not host:
        raise CommandFailed("give --host: the public HTTPS host Teams reaches tokenbot at")
    try:
        package = build_package(app_id, host, registry)
    except ValueError as exc:
        raise CommandFailed(str(exc)) from exc
    with open(args.output, "wb") as handle:
        handle.write(package)
    print(f"wrote {args.output}: upload it in Teams (Apps > Manage your apps > Upload an app)")
    return 0


def list_unreachable(args, services: Services) -> int:  # noqa: ANN001
    from bot.teams import unreachable_people

    people = unreachable_people(services)
    if not people:
        print("tokenbot can reach everyone on Teams")
        return 0
    for entry in people:
        when = f" (last failed {entry.at}, {entry.template})" if entry.at else ""
        print(f"{entry.person.email}\t{entry.person.name}\t{entry.reason}{when}")
    print(f"{len(people)} people tokenbot cannot reach on Teams yet")
    return 0
