"""Flags end to end on the real database: the detectors write them once, the person sees and
disputes their own, only their manager (or an admin) resolves them, every step is audited, and
nobody else ever sees them."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.jobs import detectors_content, run_job
from budgets import audit
from budgets.windows import week_starting
from scoring.detector_data import artifact_fingerprints
from scoring.eligibility import eligibility
from scoring.score import build_scoreboard
from storage.models import Flag, UsageEvent
from tests.integration.governance_support import (
    WEEK,
    WEEK_KEY,
    Recorder,
    at,
    button,
    call,
    press,
    prompt_spam,
    record,
    result,
    say,
    text_of,
)


def detect(services) -> list:  # noqa: ANN001
    with services.db.unit_of_work() as uow:
        notices = detectors_content(uow.session, services.policy, WEEK, services.clock())
        uow.commit()
    return notices


def flags_of(services, person_id: int) -> list[Flag]:  # noqa: ANN001
    with services.db.read() as session:
        return list(session.scalars(select(Flag).where(Flag.person_id == person_id)))


def flagged_ann(services, org) -> Flag:  # noqa: ANN001
    prompt_spam(services, "ann@acme.test")
    detect(services)
    (flag,) = flags_of(services, org["ann@acme.test"].id)
    return flag


def test_the_detectors_write_one_flag_however_often_they_run_and_tell_the_person_privately(
    services, org
):
    prompt_spam(services, "ann@acme.test", repeats=20, others=10)
    record(services, [call("bob@acme.test", at(1, 9, i)) for i in range(12)])
    first = detect(services)
    second = detect(services)
    (flag,) = flags_of(services, org["ann@acme.test"].id)
    assert not flags_of(services, org["bob@acme.test"].id)
    assert (flag.week, flag.detector, flag.status) == (WEEK_KEY, "prompt_spam", "pending")
    assert flag.evidence["repeats"] == 20 and flag.evidence["calls"] == 30
    assert "The same prompt was sent afresh 20 times this week" in flag.explanation
    assert [key for key, _ in first] == [key for key, _ in second] == [f"flag:{flag.id}:raised"]
    ((_, notice),) = first
    assert notice.to_person_id == org["ann@acme.test"].id and notice.to_channel is None
    assert notice.reply.private and [b.label for b in notice.reply.buttons] == ["Dispute"]
    assert "Private, for you only" in text_of(services, notice.reply)


def test_a_pending_flag_whose_pattern_is_gone_on_a_later_run_is_cleared_and_audited(services, org):
    flag = flagged_ann(services, org)
    record(services, [call("ann@acme.test", at(3, 9, i)) for i in range(60)])  # now 20 of 90
    assert detect(services) == []
    (after,) = flags_of(services, org["ann@acme.test"].id)
    assert after.status == "cleared" and after.resolved_by_id is None
    with services.db.read() as session:
        (entry,) = audit.entries(session, subject=f"flag:{flag.id}")
    assert (entry.actor, entry.action) == ("tokenbot", "flag.auto_cleared")


def test_a_person_sees_their_own_flags_with_the_numbers_and_what_clears_them(services, org):
    flagged_ann(services, org)
    reply = say(services, "ann@acme.test", "flags")
    text = text_of(services, reply)
    assert reply.private
    assert "Repeated prompts, week 2026-W46: pending" in text
    assert "The same prompt was sent afresh 20 times this week" in text
    assert "67% of your 30 requests" in text
    assert "What clears it:" in text
    assert [b.label for b in reply.buttons] == ["Dispute"]
    assert "No flags" in text_of(services, say(services, "bob@acme.test", "flags"))


def test_only_managers_up_the_chain_and_admins_may_look_at_someone_elses_flags(services, org):
    flagged_ann(services, org)
    for outsider in ("bob@acme.test", "fin@acme.test"):
        refused = say(services, outsider, "flags ann@acme.test")
        assert refused.template == "not_allowed"
        assert "20 times" not in text_of(services, refused)
    # Asking about someone who does not exist answers the same: flags are private.
    assert say(services, "bob@acme.test", "flags nobody@acme.test").template == "not_allowed"
    manager = say(services, "mia@acme.test", "flags ann@acme.test")
    manager_text = text_of(services, manager)
    assert "Governance flags of Ann Analyst" in manager_text
    # about someone else, the explanation speaks of them, not "your"
    assert "67% of their 30 requests" in manager_text
    assert not re.search(r"\byour?\b", manager_text, re.IGNORECASE), manager_text
    assert [b.label for b in manager.buttons] == ["Upheld", "Cleared"]
    assert say(services, "ceo@acme.test", "flags ann@acme.test").template == "flags"


def test_the_person_disputes_once_and_their_manager_is_asked_to_decide(services, org):
    flag = flagged_ann(services, org)
    reply = say(services, "ann@acme.test", "flags")
    disputed = press(services, "ann@acme.test", button(reply, "Dispute"))
    assert disputed.template == "flag_disputed" and disputed.private
    (notice,) = disputed.notices
    assert notice.to_person_id == org["mia@acme.test"].id
    assert [b.label for b in notice.reply.buttons] == ["Upheld", "Cleared"]
    assert "Ann Analyst disputes flag" in text_of(services, notice.reply)
    assert flags_of(services, org["ann@acme.test"].id)[0].status == "disputed"
    again = press(services, "ann@acme.test", button(reply, "Dispute"))
    assert again.template == "flag_refused" and "disputed already" in text_of(services, again)
    with services.db.read() as session:
        (entry,) = audit.entries(session, subject=f"flag:{flag.id}")
    assert (entry.actor, entry.action) == ("ann@acme.test", "flag.disputed")


def test_a_dispute_can_carry_a_reason_typed_in_chat(services, org):
    flag = flagged_ann(services, org)
    reply = say(services, "ann@acme.test", f"flags dispute {flag.id} load test for the launch")
    (notice,) = reply.notices
    assert 'Their reason: "load test for the launch"' in text_of(services, notice.reply)
    assert say(services, "bob@acme.test", f"flags dispute {flag.id}").template == "flag_refused"


def test_only_the_manager_or_an_admin_resolves_and_the_first_decision_wins(services, org, clock):
    flag = flagged_ann(services, org)
    manager_view = say(services, "mia@acme.test", "flags ann@acme.test")
    upheld, cleared = button(manager_view, "Upheld"), button(manager_view, "Cleared")

    bystander = press(services, "bob@acme.test", cleared)
    assert bystander.template == "flag_refused"
    assert "Only the person's manager" in text_of(services, bystander)
    own = press(services, "ann@acme.test", cleared)
    assert "can't decide your own flag" in text_of(services, own)
    assert flags_of(services, org["ann@acme.test"].id)[0].status == "pending"

    clock.advance(hours=1)
    decided = press(services, "mia@acme.test", upheld)
    assert decided.template == "flag_resolved" and decided.replace_original
    (notice,) = decided.notices
    assert notice.to_person_id == org["ann@acme.test"].id
    assert "Mia Manager upheld your flag" in text_of(services, notice.reply)
    late = press(services, "ceo@acme.test", cleared)
    assert "was already upheld by Mia Manager" in text_of(services, late)

    (stored,) = flags_of(services, org["ann@acme.test"].id)
    assert stored.status == "upheld" and stored.resolved_by_id == org["mia@acme.test"].id
    assert stored.resolved_at == clock()
    with services.db.read() as session:
        (entry,) = audit.entries(session, subject=f"flag:{flag.id}")
    assert (entry.actor, entry.action) == ("mia@acme.test", "flag.upheld")
    assert entry.detail["person"] == "ann@acme.test" and entry.detail["as_admin"] is False


def test_an_admin_outside_the_chain_may_clear_a_flag_and_the_audit_says_so(services, org):
    flag = flagged_ann(services, org)
    manager_view = say(services, "mia@acme.test", "flags ann@acme.test")
    with services.db.unit_of_work() as uow:
        from storage.models import Person

        mia = uow.session.get(Person, org["mia@acme.test"].id)
        mia.roles = "member;manager;admin"
        ann = uow.session.get(Person, org["ann@acme.test"].id)
        ann.manager_id = org["ceo@acme.test"].id  # mia is no longer above ann
        uow.commit()
    press(services, "mia@acme.test", button(manager_view, "Cleared"))
    with services.db.read() as session:
        (entry,) = audit.entries(session, subject=f"flag:{flag.id}")
    assert entry.action == "flag.cleared" and entry.detail["as_admin"] is True


def test_an_upheld_flag_keeps_counting_and_a_later_week_starts_afresh(services, org, clock):
    flag = flagged_ann(services, org)
    press(
        services,
        "mia@acme.test",
        button(say(services, "mia@acme.test", "flags ann@acme.test"), "Upheld"),
    )
    record(services, [call("ann@acme.test", at(3, 9, i)) for i in range(60)])
    detect(services)  # the pattern is gone, but a manager's decision stands
    assert flags_of(services, org["ann@acme.test"].id)[0].status == "upheld"
    with services.db.unit_of_work() as uow:
        notices = detectors_content(
            uow.session, services.policy, WEEK + timedelta(weeks=1), clock()
        )
        uow.commit()
    assert notices == [] and len(flags_of(services, org["ann@acme.test"].id)) == 1
    assert flag.week == WEEK_KEY


def test_the_daily_detectors_job_flags_and_tells_the_person_once(services, org, clock):
    prompt_spam(services, "ann@acme.test")
    clock.set(datetime(2026, 11, 16, 6, 0, tzinfo=UTC))  # Monday: last week is settled
    recorder = Recorder()
    first = run_job(services, "detectors", [recorder])
    again = run_job(services, "detectors", [recorder])
    assert (first.enqueued, first.delivered, again.enqueued, again.delivered) == (1, 1, 0, 0)
    (notice,) = recorder.sent
    assert notice.to_person_id == org["ann@acme.test"].id and notice.reply.template == "flag_raised"
    assert [b.label for b in notice.reply.buttons] == ["Dispute"]


def test_the_spotlight_judges_its_week_first_so_nobody_flagged_for_it_is_eligible(
    services, org, clock
):
    prompt_spam(services, "ann@acme.test")
    # Monday 09:00 two weeks on (the spotlight ranks the week before last), no detectors run yet
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    run_job(services, "spotlight", [Recorder()])
    ann = org["ann@acme.test"].id
    assert [flag.week for flag in flags_of(services, ann)] == [WEEK_KEY]
    week = week_starting(services.policy.periods.zone, WEEK)
    with services.db.read() as session:
        board = build_scoreboard(session, services.policy, week, clock())
    assert eligibility(board, ann).why == "flagged"


def test_the_spotlight_judges_the_week_after_its_week_too_and_a_flag_there_bars_it(
    services, org, clock
):
    # Gaming that starts late in a week shows only in the next: that flag bars both weeks.
    spam = [call("ann@acme.test", at(8, 9, i), prompt="00000000deadbeef") for i in range(20)]
    record(services, spam + [call("ann@acme.test", at(9, 9, i)) for i in range(10)])
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday 09:00: ranks 2026-W46
    ranked = run_job(services, "spotlight", [Recorder()])
    assert ranked.summary.startswith(f"{WEEK.isoformat()}:")
    ann = org["ann@acme.test"].id
    assert [flag.week for flag in flags_of(services, ann)] == ["2026-W47"]
    week = week_starting(services.policy.periods.zone, WEEK)
    with services.db.read() as session:
        board = build_scoreboard(session, services.policy, week, clock())
    assert eligibility(board, ann).why == "flagged"


def test_output_spam_costs_an_artifact_by_its_conversation_or_else_the_call_it_names(services, org):
    # A task of three turns that made an answer, a pasted copy naming one cheap call, and a
    # result naming nothing: what the detector weighs each near-copy's making by.
    turns = [call("ann@acme.test", at(1, 9, i), tokens=4_000, conversation="c-1") for i in range(3)]
    paste = call("ann@acme.test", at(1, 11), tokens=200)
    answer = result("ann@acme.test", at(1, 10), conversation="c-1", fingerprint="a1b2c3d4e5f60718")
    copy = replace(
        result("ann@acme.test", at(1, 12), fingerprint="a1b2c3d4e5f60719"), usage_ids=(paste.id,)
    )
    bare = result("ann@acme.test", at(1, 13), fingerprint="a1b2c3d4e5f6071a")
    record(services, [*turns, paste], [answer, copy, bare])
    week = week_starting(services.policy.periods.zone, WEEK)
    with services.db.read() as session:
        spent = dict(session.execute(select(UsageEvent.id, UsageEvent.budget_tokens)).all())
        counts, costs = artifact_fingerprints(session, week)
    ann = org["ann@acme.test"].id
    assert counts[ann] == {"a1b2c3d4e5f60718": 1, "a1b2c3d4e5f60719": 1, "a1b2c3d4e5f6071a": 1}
    assert costs[ann] == {
        "a1b2c3d4e5f60718": [("seo-brief", sum(spent[t.id] for t in turns))],
        "a1b2c3d4e5f60719": [("seo-brief", spent[paste.id])],
        "a1b2c3d4e5f6071a": [("seo-brief", 0)],
    }
    assert spent[paste.id] < spent[turns[0].id]
