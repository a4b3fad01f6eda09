"""Deciding savings claims on the real database. Real concurrent transactions deciding one
claim: each thread has its own unit of work (its own connection) and they are released
together (`run_together`). Whatever the database, one claim gets one decision, one audit entry
and one message; a second click, or the other button, changes nothing. And a verification
keeps the figure the gateway reported beside the one the manager verified."""

from __future__ import annotations

import threading
from dataclasses import replace

from sqlalchemy import select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from scoring.metrics import live_totals
from scoring.savings import CLAIM, DECLINE, VERIFY
from storage.models import AuditEntry, Outcome
from tests.conftest import run_together
from tests.integration.governance_support import at, record, result

THREADS = 6


def claimed(services, org, reported: int | None = None) -> tuple[str, str]:  # noqa: ANN001
    """Ann claims 40 minutes on an accepted artifact (for which her tools reported `reported`
    minutes saved); the outcome id and the claim's value."""
    outcome = replace(result("ann@acme.test", at(1)), minutes_saved=reported)
    record(services, outcomes=[outcome])
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", f"claim 40 {outcome.artifact_id}")
    )
    (notice,) = reply.notices
    return outcome.id, notice.reply.buttons[0].value


def click(services, verb: str, value: str):  # noqa: ANN001, ANN201
    return Dispatcher(services).handle_action(
        IncomingAction("console", "mia@acme.test", f"savings.verify:{verb}", value)
    )


def decisions(services, outcome_id: str) -> list[str]:  # noqa: ANN001
    with services.db.read() as session:
        return list(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.subject == f"outcome:{outcome_id}",
                    AuditEntry.action.in_((VERIFY, DECLINE)),
                )
            )
        )


def test_a_declined_claim_is_declined_once_and_cannot_then_be_verified(services, org):
    outcome_id, value = claimed(services, org)
    first = click(services, "decline", value)
    assert first.template == "savings_decided" and len(first.notices) == 1
    again = click(services, "decline", value)
    assert again.template == "savings_refused" and again.notices == ()
    assert "already declined" in services.renderer.text(again)
    verify = click(services, "approve", value)
    assert verify.template == "savings_refused" and verify.notices == ()
    assert decisions(services, outcome_id) == [DECLINE]
    with services.db.read() as session:
        assert not session.get(Outcome, outcome_id).minutes_verified


def test_simultaneous_clicks_on_verify_and_decline_make_one_decision_one_entry_one_message(
    services, org
):
    outcome_id, value = claimed(services, org)
    calls = iter(["approve", "decline"] * (THREADS // 2))
    lock = threading.Lock()

    def one_click():  # noqa: ANN202
        with lock:
            verb = next(calls)
        return verb, click(services, verb, value)

    answers = run_together(one_click, THREADS)
    decided = [(verb, reply) for verb, reply in answers if reply.template == "savings_decided"]
    assert len(decided) == 1
    assert sum(len(reply.notices) for _verb, reply in answers) == 1
    assert all(r.template == "savings_refused" for _v, r in answers if r is not decided[0][1])
    (verb, _reply) = decided[0]
    assert decisions(services, outcome_id) == [VERIFY if verb == "approve" else DECLINE]
    with services.db.read() as session:
        assert session.get(Outcome, outcome_id).minutes_verified == (verb == "approve")


def test_simultaneous_declines_decline_once(services, org):
    outcome_id, value = claimed(services, org)
    answers = run_together(lambda: click(services, "decline", value), THREADS)
    assert [r.template for r in answers].count("savings_decided") == 1
    assert decisions(services, outcome_id) == [DECLINE]


def test_verifying_keeps_the_reported_figure_and_counts_the_verified_one(services, org):
    outcome_id, value = claimed(services, org, reported=25)
    assert click(services, "approve", value).template == "savings_decided"
    with services.db.read() as session:
        outcome = session.get(Outcome, outcome_id)
        assert (outcome.minutes_saved, outcome.verified_minutes) == (25, 40)
        (row,) = session.execute(live_totals(at(0), at(7))).mappings().all()
    assert row["verified_minutes"] == 40


def claim_text(services, minutes: int, reported: int | None) -> str:  # noqa: ANN001
    """Ann claims `minutes` on a new accepted artifact for which her tools reported
    `reported` minutes saved; the reply's text."""
    outcome = replace(result("ann@acme.test", at(2)), minutes_saved=reported)
    record(services, outcomes=[outcome])
    reply = Dispatcher(services).handle_message(
        IncomingMessage("console", "ann@acme.test", f"claim {minutes} {outcome.artifact_id}")
    )
    return services.renderer.text(reply)


def claims_on_record(services) -> int:  # noqa: ANN001
    with services.db.read() as session:
        return len(list(session.scalars(select(AuditEntry).where(AuditEntry.action == CLAIM))))


def test_a_claim_above_the_policys_factor_of_the_reported_minutes_is_refused_naming_it(
    services, org
):
    """The built-in `[scoring.savings] max_claim_factor = 2`: 25 reported minutes allow a
    claim of 50 at most."""
    text = claim_text(services, 51, reported=25)
    assert "51 minutes is more than 2 times the 25 minutes your tools reported" in text
    assert "claim at most 50 minutes on this artifact" in text
    assert claims_on_record(services) == 0
    assert "Mia Manager has been asked to verify it" in claim_text(services, 50, reported=25)
    assert claims_on_record(services) == 1


def test_a_claim_above_the_per_artifact_maximum_is_refused_naming_it(services, org):
    """The built-in `[scoring.savings] max_minutes_per_artifact = 480` (a working day), also
    when the tools reported no figure."""
    text = claim_text(services, 481, reported=None)
    assert "481 minutes is more than the 480 minutes one artifact may claim" in text
    assert claims_on_record(services) == 0
