"""`tokenbot dashboard link --as EMAIL [--base-url URL]`: print a one-time sign-in link to the
web dashboard (15 minutes, single use) for someone in the directory."""

from __future__ import annotations

import sys

from bot.bootstrap import Services
from bot.core.signin import LINK_LIFETIME, issue_link, public_url
from budgets.directory import find_person


def register(sub) -> None:  # noqa: ANN001
    dashboard = sub.add_parser("dashboard", help="the web dashboard").add_subparsers(
        dest="dashboard_command", required=True
    )
    link = dashboard.add_parser("link", help="print a one-time sign-in link for a person")
    link.add_argument("--as", dest="email", required=True, help="the person's email")
    link.add_argument("--base-url", help="where tokenbot is served (default: TOKENBOT_PUBLIC_URL)")
    link.set_defaults(run=print_link)


def print_link(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    base = (args.base_url or "").rstrip("/") or public_url(services)
    if base is None:
        raise CommandFailed("say where tokenbot is served: --base-url URL or TOKENBOT_PUBLIC_URL")
    if not base.startswith(("http://", "https://")):
        raise CommandFailed(f"--base-url must start with http:// or https://, got {base!r}")
    now = services.clock()
    with services.db.unit_of_work() as uow:
        person = find_person(uow.session, args.email)
        if person is None or not person.active:
            raise CommandFailed(f"no active person with the email {args.email} is in the directory")
        link = issue_link(uow.session, person, base, now)
        uow.commit()
    print(link.url)
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    print(
        f"(for {person.name}; works once, for {minutes} minutes, until {link.expires_at:%Y-%m-%d %H:%M} UTC)",
        file=sys.stderr,
    )
    return 0
