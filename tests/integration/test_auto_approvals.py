"""Auto-approval rules (`[[approvals.auto]]`, issue 23) on the real database (SQLite, or
PostgreSQL when TOKENBOT_TEST_DATABASE_URL is set): a request a rule admits is approved once,
by the rule, with its grant and audit entry; one it does not goes to the manager with every
rule's miss; the Undo takes back the unused part once, whatever the clicks; concurrent
submissions never exceed a rule's `max_per_period`, and a redelivered submission makes one
request."""

from __future__ import annotations

import tomllib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from budgets.auto_approvals import undo
from budgets.balances import balance_for
from budgets.ledger import verify
from budgets.policy import Policy, PolicyInvalid, parse_policy
from budgets.request_views import PENDING
from budgets.requests import create_request
from scoring.standing import requester_standing
from storage.models import AuditEntry, BurstRequest, Grant, GrantBalance, LedgerEntry, Person
from tests.integration.scoring_support import add_flag, add_outcomes, add_usage, outcome, usage
from tests.integration.test_request_races import THREADS, all_at_once

DEFAULT = Path(__file__).parents[2] / "budgets" / "default_policy.toml"
RULES = """
[[approvals.auto]]
name = "small"
max_amount = 50_000
max_per_period = 2
min_acceptance = 0
undo_hours = 24

[[approvals.auto]]
name = "trusted-seo"
max_amount = 200_000
max_per_period = 1
min_acceptance = 0.9
undo_hours = 48
use_cases = ["seo-brief"]
"""


def with_rules(rules: str) -> Policy:
    data = tomllib.loads(DEFAULT.read_text(encoding="utf-8") + rules)
    return parse_policy(data, "test policy")


@pytest.fixture
def policy() -> Policy:
    return with_rules(RULES)


def submit(services, person, amount, key=None, use_case=None):
    with services.db.unit_of_work() as uow:
        now = services.clock()
        standing = requester_standing(uow.session, services.policy, person.id, use_case, now)
        created = create_request(
            uow.session,
            services.policy,
            person,
            amount,
            "launch copy",
            now=now,
            use_case=use_case,
            submission_key=key,
            standing=standing,
        )
        uow.commit()
    return created


def undoing(services, person, request_id):
    def call():
        with services.db.unit_of_work() as uow:
            result = undo(uow.session, request_id, person, now=services.clock())
            uow.commit()
        return result

    return call


def audit_actions(services, request_id):
    with services.db.read() as session:
        return Counter(
            session.execute(
                select(AuditEntry.actor, AuditEntry.action).where(
                    AuditEntry.subject == f"request:{request_id}"
                )
            ).all()
        )


def grant_of(services, request_id):
    with services.db.read() as session:
        return session.execute(
            select(Grant.amount, GrantBalance.remaining, GrantBalance.used, GrantBalance.expired)
            .join(GrantBalance, GrantBalance.grant_id == Grant.id)
            .where(Grant.idempotency_key == f"burst:{request_id}")
        ).all()


def seo_history(services, email, accepted, total, at):
    add_outcomes(
        services,
        [
            outcome(
                f"{email}-{i}",
                email,
                at,
                status="accepted" if i < accepted else "rejected",
                use_case="seo-brief",
            )
            for i in range(total)
        ],
    )


LAST_WEEK = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # in the 4 complete weeks before 18 Nov


# --- approving -----------------------------------------------------------------------------


def test_a_request_a_rule_admits_is_approved_at_once_with_one_grant_and_a_rule_audit(services, org):
    created = submit(services, org["ann@acme.test"], 40_000)
    request = created.request
    assert (request.state, request.auto_rule, request.granted_amount) == (
        "approved",
        "small",
        40_000,
    )
    assert request.undo_until == services.clock() + timedelta(hours=24)
    assert created.auto_approved and not created.misses
    assert grant_of(services, request.id) == [(40_000, 40_000, 0, 0)]
    actions = audit_actions(services, request.id)
    assert actions[("rule:small", "request.approved")] == 1
    assert actions[("ann@acme.test", "request.created")] == 1


def test_min_acceptance_zero_admits_no_history_and_a_higher_bar_needs_the_baseline(services, org):
    # Ann: 5 of 10 seo briefs accepted; Bob 10 of 10. Baseline (median person-week) 75%:
    # Ann is at 67% of it, below the rule's 90%.
    seo_history(services, "ann@acme.test", 5, 10, LAST_WEEK)
    seo_history(services, "bob@acme.test", 10, 10, LAST_WEEK)
    created = submit(services, org["ann@acme.test"], 150_000, use_case="seo-brief")
    assert created.request.state == PENDING
    codes = {(m.rule, m.code) for m in created.misses}
    assert codes == {("small", "amount_over"), ("trusted-seo", "acceptance_low")}
    low = next(m for m in created.misses if m.code == "acceptance_low")
    assert (low.facts["rate"], low.facts["baseline"], low.facts["ratio"]) == (0.5, 0.75, 0.67)

    # Bob, at 133% of the baseline, is admitted by the second rule.
    bob = submit(services, org["bob@acme.test"], 150_000, use_case="seo-brief")
    assert (bob.request.state, bob.request.auto_rule) == ("approved", "trusted-seo")
    assert bob.request.undo_until == services.clock() + timedelta(hours=48)


def test_a_person_with_a_flag_not_cleared_never_qualifies(services, org):
    add_flag(services, org["ann@acme.test"].id, "2026-W40", "disputed")
    created = submit(services, org["ann@acme.test"], 10_000)
    assert created.request.state == PENDING
    assert ("small", "flagged") in {(m.rule, m.code) for m in created.misses}
    assert grant_of(services, created.request.id) == []


def test_a_cleared_flag_does_not_bar(services, org):
    add_flag(services, org["ann@acme.test"].id, "2026-W40", "dismissed")
    assert submit(services, org["ann@acme.test"], 10_000).request.auto_rule == "small"


def test_past_max_per_period_requests_go_to_the_manager_saying_why(services, org):
    ann = org["ann@acme.test"]
    assert [submit(services, ann, 10_000).request.auto_rule for _ in range(2)] == ["small"] * 2
    third = submit(services, ann, 10_000)
    assert third.request.state == PENDING
    assert [(m.rule, m.code) for m in third.misses][0] == ("small", "period_full")


def test_concurrent_submissions_never_exceed_max_per_period(services, org):
    ann = org["ann@acme.test"]
    results = all_at_once(
        [lambda i=i: submit(services, ann, 10_000, key=f"t:{i}") for i in range(THREADS)]
    )
    approved = [r for r in results if r.request.auto_rule == "small"]
    assert len(approved) == 2
    assert sorted(r.request.id for r in results) == sorted({r.request.id for r in results})
    with services.db.read() as session:
        slots = session.execute(
            select(BurstRequest.auto_slot).where(BurstRequest.auto_rule.is_not(None))
        ).all()
        grants = session.scalar(
            select(func.count()).select_from(Grant).where(Grant.kind == "burst")
        )
        assert verify(session) == []
    assert sorted(s for (s,) in slots) == [1, 2]
    assert grants == 2


def test_a_submission_delivered_many_times_at_once_makes_one_request_and_one_grant(services, org):
    ann = org["ann@acme.test"]
    results = all_at_once(
        [lambda: submit(services, ann, 10_000, key="slack:T1") for _ in range(THREADS)]
    )
    assert len({r.request.id for r in results}) == 1
    assert sum(not r.repeated for r in results) == 1
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BurstRequest)) == 1
        assert (
            session.scalar(select(func.count()).select_from(Grant).where(Grant.kind == "burst"))
            == 1
        )
    assert audit_actions(services, results[0].request.id)[("rule:small", "request.approved")] == 1


# --- undo ----------------------------------------------------------------------------------


def test_undo_takes_back_only_the_unused_part_once(services, org, clock):
    ann = org["ann@acme.test"]
    request = submit(services, ann, 50_000).request
    with services.db.read() as session:
        # Spend what Ann may draw before the burst grant (the draw order), and 12,000 more.
        before_burst = session.scalar(
            select(func.sum(GrantBalance.remaining))
            .join(Grant, Grant.id == GrantBalance.grant_id)
            .where(
                Grant.kind != "burst",
                ((Grant.owner_type == "person") & (Grant.owner_id == ann.id))
                | ((Grant.owner_type == "team") & (Grant.owner_id == ann.team_id)),
            )
        )
    clock.advance(hours=1)
    add_usage(
        services, [usage("ann@acme.test", before_burst + 12_000, clock(), use_case="ad-copy")]
    )
    ((amount, remaining, used, _),) = grant_of(services, request.id)
    assert (used, remaining) == (12_000, amount - 12_000)

    results = all_at_once(
        [undoing(services, p, request.id) for p in [org["mia@acme.test"], org["ceo@acme.test"]] * 4]
    )
    winners = [r for r in results if r.changed]
    assert len(winners) == 1
    assert (winners[0].granted, winners[0].used, winners[0].revoked) == (amount, used, remaining)
    assert {r.problem for r in results if not r.changed} == {"already_undone"}
    assert grant_of(services, request.id) == [(amount, 0, used, remaining)]
    with services.db.read() as session:
        entries = session.scalars(
            select(LedgerEntry.amount).where(LedgerEntry.reference == f"undo:request:{request.id}")
        ).all()
        assert verify(session) == []
    assert entries == [remaining]
    assert (
        sum(
            n
            for (_, a), n in audit_actions(services, request.id).items()
            if a == "request.auto_undone"
        )
        == 1
    )


def test_only_the_manager_or_an_admin_may_undo_and_only_within_the_window(services, org, clock):
    request = submit(services, org["ann@acme.test"], 20_000).request
    for email in ("ann@acme.test", "bob@acme.test", "fin@acme.test"):
        assert undoing(services, org[email], request.id)().problem == "not_found", email
    clock.advance(hours=25)
    late = undoing(services, org["mia@acme.test"], request.id)()
    assert late.problem == "window_passed"
    assert grant_of(services, request.id) == [(20_000, 20_000, 0, 0)]
    assert not any(a == "request.auto_undone" for _, a in audit_actions(services, request.id))


def test_an_admin_may_undo_for_the_manager(services, org):
    request = submit(services, org["ann@acme.test"], 20_000).request
    result = undoing(services, org["ceo@acme.test"], request.id)()
    assert (result.changed, result.revoked, result.undone_by) == (True, 20_000, "Cleo Chief")


# --- policy --------------------------------------------------------------------------------


def test_impossible_rules_are_refused_with_their_keys():
    bad = """
[[approvals.auto]]
name = "small"
max_amount = -5
max_per_period = 0
min_acceptance = 1.5
undo_hours = 0
use_cases = ["astrology"]
tiers = ["gold"]

[[approvals.auto]]
name = "small"
max_amount = 900_000
max_per_period = 1
min_acceptance = 0.5
"""
    with pytest.raises(PolicyInvalid) as raised:
        with_rules(bad)
    keys = {e.key for e in raised.value.errors}
    assert keys == {
        "approvals.auto[0].max_amount",
        "approvals.auto[0].max_per_period",
        "approvals.auto[0].min_acceptance",
        "approvals.auto[0].undo_hours",
        "approvals.auto[0].use_cases",
        "approvals.auto[0].tiers",
        "approvals.auto[1].name",
        "approvals.auto[1].max_amount",
    }
    reasons = "\n".join(str(e) for e in raised.value.errors)
    assert "duplicate rule 'small'" in reasons
    assert "names 'astrology', which is not in [use_cases]" in reasons
    assert "finance approves" in reasons


# --- through the chat core (the console adapter's path) -----------------------------------


def test_the_manager_is_told_with_an_undo_and_the_requester_hears_it_was_the_rule(services, org):
    dispatcher = Dispatcher(services)
    reply = dispatcher.handle_message(
        IncomingMessage("console", "ann@acme.test", "request 30k launch copy")
    )
    text = services.renderer.text(reply)
    assert "approved at once by the rule small" in text
    (notice,) = reply.notices
    assert notice.to_person_id == org["mia@acme.test"].id
    assert [b.label for b in notice.reply.buttons] == ["Undo"]
    assert "Approved by the rule small" in services.renderer.text(notice.reply)

    bob_click = dispatcher.handle_action(
        IncomingAction("console", "bob@acme.test", "request.undo", notice.reply.buttons[0].value)
    )
    assert bob_click.template == "request_undo_refused"
    undone = dispatcher.handle_action(
        IncomingAction("console", "mia@acme.test", "request.undo", notice.reply.buttons[0].value)
    )
    assert undone.replace_original and undone.template == "request_undone_by_you"
    (told,) = undone.notices
    assert told.to_person_id == org["ann@acme.test"].id
    assert "30,000 of the 30,000 tokens were taken back" in services.renderer.text(told.reply)
    again = dispatcher.handle_action(
        IncomingAction("console", "mia@acme.test", "request.undo", notice.reply.buttons[0].value)
    )
    assert "was already undone by Mia Manager" in services.renderer.text(again)


def test_a_request_no_rule_takes_shows_the_approver_each_miss(services, org):
    dispatcher = Dispatcher(services)
    reply = dispatcher.handle_message(
        IncomingMessage("console", "ann@acme.test", "request 100k launch copy")
    )
    (notice,) = reply.notices
    text = services.renderer.text(notice.reply)
    assert "No auto-approval rule took it:" in text
    assert "small: 100,000 tokens is above its 50,000" in text
    assert "trusted-seo: it covers seo-brief, this is no known use case" in text


def test_console_the_manager_undoes_through_a_numbered_choice(services, org):
    from tests.integration.test_request_console import Console

    dispatcher = Dispatcher(services)
    ann, mia = Console(dispatcher, "ann@acme.test"), Console(dispatcher, "mia@acme.test")
    ann.chat.handle("request 30k launch copy")
    assert "(tokenbot also sent a message to Mia Manager)" in ann.seen()

    ann.chat.handle("request undo 1")
    assert "There is no rule-approved request #1 you can undo" in ann.seen()
    mia.chat.handle("request undo 1")
    shown = mia.seen()
    assert "Approved by the rule small" in shown and "[1] Undo" in shown
    mia.chat.handle("press 1")
    assert "Undone: request #1 from Ann Analyst" in mia.seen()
    mia.chat.handle("press 1")  # the undone message has no choices left
    assert "There is no button 1" in mia.seen()
    mia.chat.handle("request undo 1")
    assert "was already undone by Mia Manager" in mia.seen()
    assert grant_of(services, 1) == [(30_000, 0, 0, 30_000)]


def test_an_undone_grant_adds_up_in_balance_what_was_taken_back_is_not_used(services, org):
    ann = org["ann@acme.test"]
    with services.db.read() as session:
        person = session.get(Person, ann.id)
        before = balance_for(session, person, services.policy, services.clock())
    request = submit(services, ann, 50_000).request
    assert undoing(services, org["mia@acme.test"], request.id)().changed
    with services.db.read() as session:
        person = session.get(Person, ann.id)
        after = balance_for(session, person, services.policy, services.clock())
    # Nothing was spent: the burst grant shows 0 of 0 (its 50,000 taken back), and the
    # personal figures are as before the request, adding up on every line.
    assert (after.personal_used, after.used) == (before.personal_used, before.used) == (0, 0)
    assert after.personal_remaining + after.personal_used == after.personal_total
    for pool in after.pools:
        assert pool.remaining <= pool.amount, pool


def test_rules_with_a_name_past_its_column_or_an_undo_window_past_a_year_are_refused():
    bad = f"""
[[approvals.auto]]
name = "{"r" * 101}"
max_amount = 10_000
max_per_period = 1
min_acceptance = 0
undo_hours = 100_000_000
"""
    with pytest.raises(PolicyInvalid) as raised:
        with_rules(bad)
    reasons = {e.key: e.reason for e in raised.value.errors}
    assert reasons["approvals.auto[0].name"] == "must be at most 100 characters, got 101"
    assert reasons["approvals.auto[0].undo_hours"].startswith("must be at most 8,784 (a year)")
