"""Who must hear that a notice waits for a recipient no chat platform can reach yet.

An approval message is the one that matters: while it waits, the request waits. Its requester
and the admins are told, so the request is neither stuck nor silently late (admins can link the
approver, or decide it themselves with the approval's buttons). Other notices just wait.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.messages import Notice, Reply
from storage.models import Person

APPROVAL = "request_approval"


def unreached_notices(session: Session, waiting: Notice) -> list[Notice]:
    """The notices telling the requester and every active admin (not the approver) that the
    approval message `waiting` has not reached its approver yet; none for other notices or
    for a reminder (they were told when the first message waited)."""
    context = waiting.reply.context
    if waiting.reply.template != APPROVAL or context.get("reminder"):
        return []
    request = context["request"]
    approver = session.get(Person, waiting.to_person_id) if waiting.to_person_id else None
    admins = session.scalars(
        select(Person).where(Person.active, Person.roles.contains("admin")).order_by(Person.id)
    )
    told = {request["requester_id"]: "requester"}
    for admin in admins:
        if admin.has_role("admin"):
            told.setdefault(admin.id, "admin")
    shown = {"request": request, "approver": approver.name if approver else "the approver"}
    # Admins get the approval's own buttons: an admin may decide any step (recorded as such).
    return [
        Notice(
            person_id,
            Reply(
                "approval_unreached",
                {**shown, "audience": audience},
                buttons=waiting.reply.buttons if audience == "admin" else (),
            ),
        )
        for person_id, audience in told.items()
        if person_id != waiting.to_person_id
    ]
