"""The demo org gives every command something to show: scores, recognition, templates and a
request waiting for the demo member's manager, seeded through the real services and read back
through the console chat. (tests/integration/test_cli.py runs `tokenbot demo` itself.)"""

from __future__ import annotations

import io

from sqlalchemy import select

from bot.console import run_console
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage
from bot.demo import (
    DEMO_GAMERS,
    DEMO_MANAGER,
    DEMO_MEMBER,
    DEMO_PROPOSAL,
    DEMO_TEMPLATES,
    seed_demo,
)
from budgets.ledger import verify
from storage.models import BurstRequest, Flag, Outcome, Person, PromptTemplate
from tests.conftest import row_counts


def chat(services, email: str, lines: str) -> str:
    out = io.StringIO()
    assert run_console(Dispatcher(services), email, stdin=io.StringIO(lines), out=out) == 0
    return out.getvalue()


def test_the_demo_seeds_outcomes_templates_savings_and_a_request_once(services):
    summary = seed_demo(services)
    assert summary.startswith("Seeded the demo org: 30 people in 4 teams,")
    assert (
        "3 prompt templates (and one waiting for approval), 3 gaming flags (one disputed, one "
        "upheld), a burst request awaiting Maya Patel, and request #2 approved by the rule "
        "demo-small-bursts (its Undo open to Maya Patel until" in summary
    )
    assert "personal settings for 2 people" in summary
    assert "2 shares of the Marketing pool" in summary
    with services.db.read() as session:
        statuses = set(session.scalars(select(Outcome.status).distinct()))
        assert statuses == {"accepted", "revised", "rejected"}
        assert session.scalar(
            select(Outcome.id).where(Outcome.status == "revised", Outcome.edit_distance > 0)
        )
        assert session.scalar(select(Outcome.id).where(Outcome.minutes_verified.is_(True)))
        registered = dict(session.execute(select(PromptTemplate.id, PromptTemplate.state)).all())
        assert registered == {
            **{t.id: "approved" for t in DEMO_TEMPLATES.values()},
            DEMO_PROPOSAL[1].id: "proposed",
        }
        request, auto = session.scalars(select(BurstRequest).order_by(BurstRequest.id)).all()
        approver = session.get(Person, request.approver_id)
        assert request.state == "pending" and approver.email == DEMO_MANAGER
        # The demo member's own request, approved by the rule; the manager may undo it.
        assert (auto.state, auto.auto_rule, auto.approver_id) == (
            "approved",
            "demo-small-bursts",
            request.approver_id,
        )
        assert auto.undo_until > services.clock()
        assert verify(session) == []
    seeded = row_counts(services)
    assert seed_demo(services) == "The demo org is already seeded in this database."
    assert row_counts(services) == seeded


def test_score_leaderboard_templates_and_team_have_something_to_show(services):
    seed_demo(services)
    member = chat(services, DEMO_MEMBER, "score\nleaderboard\ntemplates\nrequest 50k launch\n")
    assert "internal error" not in member.lower()
    assert "efficiency score for 2026-W46" in member
    assert "Gold: " in member.split("Reusable workflow builder:")[1]
    assert "Gold: " in member.split("Highest verified savings:")[1]
    for template in DEMO_TEMPLATES.values():
        assert f"{template.name} [{template.id}], by " in member
    assert "(tokenbot also sent a message to Maya Patel)" in member
    manager = chat(services, DEMO_MANAGER, "team\n")
    waiting = manager.split("Burst requests waiting on you:")[1]
    assert "Sofia Rossi: 300,000 tokens" in waiting and "Liam Walsh: 50,000 tokens" in waiting


def test_the_demo_shows_shares_of_the_marketing_pool_in_team_allocations_and_balance(services):
    seed_demo(services)
    listed = chat(services, DEMO_MANAGER, "team allocations\n")
    assert "Marketing pool for 2026-11: 5,000,000" in listed
    assert "Liam Walsh" in listed and "Sofia Rossi" in listed
    assert "share 1,000,000" in listed and "set by Maya Patel" in listed
    balance = chat(services, DEMO_MEMBER, "balance\n")
    assert "Team pool: your share " in balance and "(allocation 1,000,000, used" in balance


def test_the_demo_library_has_texts_to_use_and_a_proposal_for_the_admin(services):
    seed_demo(services)
    with services.db.read() as session:
        admin = session.scalars(select(Person).where(Person.roles.contains("admin"))).first()
    member = chat(
        services,
        DEMO_MEMBER,
        "templates show seo-brief-v1\ntemplates use seo-brief-v1\ntrail shoes\nrunning shoes\n\n",
    )
    assert "Write an SEO brief for a page about {{ topic }}." in member
    assert "Variables: topic, keyword, audience." in member
    assert "Write an SEO brief for a page about trail shoes." in member
    assert "Audience: general readers." in member
    assert "Expected saving: tasks with this template take" in member
    pending = chat(services, admin.email, "templates pending\npress 1\n")
    assert "Ad copy v1 [ad-copy-v1] version 1 for ad-copy, by Liam Walsh" in pending
    assert "Approved: Ad copy v1 [ad-copy-v1] version 1" in pending


def test_the_demo_has_gaming_flags_pending_disputed_and_upheld_and_every_screen_leaves_them_out(
    services,
):
    seed_demo(services)
    with services.db.read() as session:
        flags = {
            session.get(Person, flag.person_id).email: flag
            for flag in session.scalars(select(Flag))
        }
    assert {email: (f.detector, f.status) for email, f in flags.items()} == DEMO_GAMERS
    assert all(f.week == "2026-W46" and f.explanation for f in flags.values())
    board = chat(services, DEMO_MEMBER, "leaderboard\n")
    for email in DEMO_GAMERS:
        with services.db.read() as session:
            name = session.scalar(select(Person.name).where(Person.email == email))
        assert name not in board
    felix = chat(services, "felix.weber@demo.example", "score\nflags\n")
    assert "open governance flag this week, so no recognition for it until" in felix
    hugo = chat(services, "hugo.laurent@demo.example", "flags\n")
    assert "disputed" in hugo
    kenji = chat(services, "kenji.sato@demo.example", "score\n")
    assert "Your governance flag for this week was upheld" in kenji and "until" not in kenji


def test_the_demo_manager_can_undo_the_demo_members_auto_approved_request(services):
    seed_demo(services)
    dispatcher = Dispatcher(services)
    mine = dispatcher.handle_message(IncomingMessage("console", DEMO_MEMBER, "request list"))
    assert "approved by the rule demo-small-bursts" in services.renderer.text(mine)
    shown = dispatcher.handle_message(IncomingMessage("console", DEMO_MANAGER, "request undo 2"))
    assert "Approved by the rule demo-small-bursts" in services.renderer.text(shown)
    (undo,) = shown.buttons
    undone = dispatcher.handle_action(
        IncomingAction("console", DEMO_MANAGER, undo.action_id, undo.value)
    )
    assert "Undone: request #2 from Liam Walsh" in services.renderer.text(undone)


def test_the_demo_policy_names_its_owners_and_demo_people_have_settings(services):
    seed_demo(services)
    page = chat(services, DEMO_MEMBER, "policy\nsettings\n")
    assert "Purpose: Give everyone the AI tokens their work needs" in page
    assert "Reviewed quarterly. Owners: spend monitored by finance@example.com" in page
    assert "Quiet hours: 22:00-07:00\n" in page
    assert "Budget alerts: on (the policy's default)" in page


def test_the_demo_policy_shows_a_project_with_members_and_a_launch_pool_that_lapsed(services):
    from sqlalchemy import func

    from bot.demo import DEMO_LAUNCH, DEMO_PROJECT, DEMO_PROJECT_ANALYST, demo_policy
    from storage.models import Grant, GrantBalance, LedgerEntry, OutboxMessage, Project, Team

    services.policy = demo_policy(services.policy, services.clock())
    summary = seed_demo(services)
    assert f"The {DEMO_PROJECT} project is for the Marketing team and {DEMO_PROJECT_ANALYST}" in (
        summary
    )
    with services.db.read() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == DEMO_PROJECT))
        drawers = set(
            session.execute(
                select(Team.name, Person.email)
                .join(Person, Person.team_id == Team.id)
                .join(LedgerEntry, LedgerEntry.person_id == Person.id)
                .join(Grant, Grant.id == LedgerEntry.grant_id)
                .where(Grant.owner_type == "project", Grant.owner_id == project_id)
                .distinct()
            ).all()
        )
        assert {team for team, _ in drawers} == {"Marketing", "Analytics"}
        assert {email for team, email in drawers if team == "Analytics"} == {DEMO_PROJECT_ANALYST}
        (pool,) = services.policy.launch_pools
        used, expired = session.execute(
            select(GrantBalance.used, GrantBalance.expired)
            .join(Grant, Grant.id == GrantBalance.grant_id)
            .where(Grant.idempotency_key == pool.grant_key)
        ).one()
        assert used > 0 and used + expired == pool.amount
        lapses = session.scalar(
            select(func.count()).where(LedgerEntry.reference == f"lapse:{pool.grant_key}")
        )
        assert lapses == 1
        report = session.scalar(
            select(OutboxMessage).where(OutboxMessage.key == f"launch-report:{pool.grant_key}")
        )
        assert report is not None and pool.name == DEMO_LAUNCH
        assert verify(session) == []
