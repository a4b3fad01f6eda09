"""`tokenbot db upgrade|current`: create or migrate the schema named by TOKENBOT_DATABASE_URL."""

from __future__ import annotations

from bot.bootstrap import Settings
from storage.database import current_revision, upgrade_schema


def register(sub) -> None:  # noqa: ANN001
    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    up = db.add_parser("upgrade", help="create or migrate the schema to the latest version")
    up.add_argument("--revision", default="head")
    up.set_defaults(run=upgrade, standalone=True)
    cur = db.add_parser("current", help="show the schema version")
    cur.set_defaults(run=current, standalone=True)


def upgrade(args) -> int:  # noqa: ANN001
    settings = Settings.from_env()
    upgrade_schema(settings.database_url, args.revision)
    print(f"schema at {current_revision(settings.database_url)} ({_safe(settings.database_url)})")
    return 0


def current(args) -> int:  # noqa: ANN001
    settings = Settings.from_env()
    print(current_revision(settings.database_url) or "empty (run `tokenbot db upgrade`)")
    return 0


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def schema_problem() -> str | None:
    """Why a database error is the setup's fault: the database cannot be opened, or its schema
    is missing or older than the code. None when the schema is current (the error is elsewhere)."""
    from alembic.script import ScriptDirectory

    from storage.database import alembic_config

    settings = Settings.from_env()
    where = _safe(settings.database_url)
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    try:
        revision = current_revision(settings.database_url)
    except Exception as exc:  # noqa: BLE001 - cannot even be opened: say why, in one line
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return f"cannot open the database {where}: {reason}"
    if revision == head:
        return None
    state = f"is at revision {revision}" if revision else "has no tokenbot schema"
    return f"the database {where} {state}; run `tokenbot db upgrade` first"
