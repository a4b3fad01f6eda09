"""`tokenbot audit [--since DATE] [--subject SUBJECT]`: list the audit log, oldest first.

One line per entry (time, actor, action, subject, detail as JSON), so it greps and diffs;
`--json` prints JSON lines for tools.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

from bot.bootstrap import Services
from budgets.audit import entries


def register(sub) -> None:  # noqa: ANN001
    audit = sub.add_parser("audit", help="list the audit log (who did what, when)")
    audit.add_argument(
        "--since",
        help="from this day (YYYY-MM-DD, in the policy's time zone) or instant (ISO 8601) on",
    )
    audit.add_argument("--subject", help="only this subject, e.g. request:42")
    audit.add_argument("--limit", type=int, default=None, help="at most this many entries")
    audit.add_argument("--json", action="store_true", help="print JSON lines")
    audit.set_defaults(run=list_audit)


def parse_since(text: str, zone) -> datetime:  # noqa: ANN001
    from bot.cli import CommandFailed

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=zone).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandFailed(
            f"--since {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def list_audit(args, services: Services) -> int:  # noqa: ANN001
    since = parse_since(args.since, services.policy.periods.zone) if args.since else None
    with services.db.read() as session:
        found = entries(session, since=since, subject=args.subject, limit=args.limit)
    for entry in found:
        at = entry.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if args.json:
            print(
                json.dumps(
                    {
                        "at": at,
                        "actor": entry.actor,
                        "action": entry.action,
                        "subject": entry.subject,
                        "detail": entry.detail,
                    },
                    sort_keys=True,
                )
            )
        else:
            detail = json.dumps(entry.detail, sort_keys=True, separators=(",", ":"))
            print(f"{at}  {entry.actor}  {entry.action}  {entry.subject}  {detail}")
    if not found and not args.json:
        print("audit: no entries match")
    return 0
