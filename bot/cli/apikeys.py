"""`tokenbot apikey create --name NAME | list | revoke NAME`: keys for the usage API."""

from __future__ import annotations

from bot.bootstrap import Services
from budgets.apikeys import ApiKeyError, create_api_key, list_api_keys, revoke_api_key


def register(sub) -> None:  # noqa: ANN001
    apikey = sub.add_parser("apikey", help="API keys for the usage API").add_subparsers(
        dest="apikey_command", required=True
    )
    create = apikey.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True, help="who uses it, e.g. litellm-proxy")
    create.set_defaults(run=create_key)
    listing = apikey.add_parser("list", help="list keys (names and prefixes, never the keys)")
    listing.set_defaults(run=list_keys)
    revoke = apikey.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("name")
    revoke.set_defaults(run=revoke_key)


def create_key(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    with services.db.unit_of_work() as uow:
        try:
            created = create_api_key(uow.session, args.name, services.clock())
        except ApiKeyError as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    print(f"API key {created.name!r} created. It is shown only this once; store it now:")
    print(created.plaintext)
    return 0


def list_keys(args, services: Services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        keys = list_api_keys(session)
    if not keys:
        print("no API keys yet (tokenbot apikey create --name NAME)")
        return 0
    for key in keys:
        state = "active" if key.is_active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC"
        print(f"{key.name:30} tbk_{key.prefix}_...  created {key.created_at:%Y-%m-%d}  {state}")
    return 0


def revoke_key(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    with services.db.unit_of_work() as uow:
        try:
            revoked = revoke_api_key(uow.session, args.name, services.clock())
        except ApiKeyError as exc:
            raise CommandFailed(str(exc)) from exc
        uow.commit()
    print(f"API key {args.name!r} {'revoked' if revoked else 'was already revoked'}")
    return 0
