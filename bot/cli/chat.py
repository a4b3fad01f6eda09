"""`tokenbot chat --as EMAIL` and `tokenbot demo`: the console chat, and a seeded demo org."""

from __future__ import annotations

from bot.bootstrap import Services
from bot.console import run_console
from bot.core.dispatch import Dispatcher


def register(sub) -> None:  # noqa: ANN001
    chat = sub.add_parser("chat", help="chat with tokenbot on the console (reads stdin)")
    chat.add_argument(
        "--as", dest="email", required=True, help="the email of the person you speak as"
    )
    chat.set_defaults(run=run_chat)
    demo = sub.add_parser(
        "demo", help="seed a demo org into the database and open the console chat"
    )
    demo.add_argument(
        "--as",
        dest="email",
        default=None,
        help="speak as this demo person (default: a demo member)",
    )
    demo.add_argument("--no-chat", action="store_true", help="seed only")
    demo.set_defaults(run=run_demo)


def run_chat(args, services: Services) -> int:  # noqa: ANN001
    return run_console(Dispatcher(services), args.email)


def run_demo(args, services: Services) -> int:  # noqa: ANN001
    from bot.demo import DEMO_MANAGER, DEMO_MEMBER, demo_policy, seed_demo
    from storage.database import upgrade_schema

    upgrade_schema(services.settings.database_url)
    # The demo's project with members and its launch pool join the policy for this session.
    services.policy = demo_policy(services.policy, services.clock())
    summary = seed_demo(services)
    print(summary)
    if args.no_chat:
        return 0
    email = args.email or DEMO_MEMBER
    print(
        f"Opening the console chat as {email}. Try: balance, score, leaderboard, templates, "
        f"help (or --as {DEMO_MANAGER}, a manager, and `team`).\n"
    )
    return run_console(Dispatcher(services), email)
