"""The demo org gives every command something to show: scores, recognition, templates and a
request waiting for the demo member's manager, seeded through the real services and read back
through the console chat. (tests/integration/test_cli.py runs `tokenbot demo` itself.)"""

from __future__ import annotations

import io

from sqlalchemy import select

from bot.console import run_console
from bot.core.dispatch import Dispatcher
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
        "upheld), a burst request awaiting Maya Patel, and 2 shares of the Marketing pool."
        in summary
    )
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
        (request,) = session.scalars(select(BurstRequest)).all()
        approver = session.get(Person, request.approver_id)
        assert request.state == "pending" and approver.email == DEMO_MANAGER
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
