"""A seeded org for the scoring tests: eight weeks of history and the week being scored.

Usage goes through the real ledger (`record_usage`), outcomes through the ingestion service
(`ingest.store.record_outcomes`), and hal's saved minutes through a claim his manager verifies.

Habits (all in seo-brief, 8 briefs a week unless said otherwise):
- ann: efficient (1,000 tokens a brief, all accepted, few edits) -> recognised;
- bob: the heaviest spender (12,000 tokens a brief, half accepted) -> never recognised;
- fay: as efficient as ann, but with a pending flag in the scored week -> never named;
- leo: new, one cheap accepted brief in the scored week only (a small sample);
- tia: typical, and author of the `seo-brief-v3` template the Sales team uses in the scored
  week (2,000 tokens a brief instead of 3,000);
- hal: typical, with 90 verified minutes saved in the scored week;
- everyone else: typical (3,000 tokens a brief, 6 of 8 accepted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from bot.bootstrap import Services
from bot.demo import DemoUsage
from budgets.directory import find_person, import_directory
from budgets.ledger import record_usage
from budgets.windows import Window, week_by_key
from ingest.events import OutcomeEvent
from ingest.store import record_outcomes
from scoring.savings import claim_savings, decide_claim
from storage.models import Flag, Person, PromptTemplate

SCORED_WEEK = "2026-W46"  # 9 to 15 November 2026; the conftest clock is Wed 18 November
HISTORY_WEEKS = 8

PEOPLE_CSV = """email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id
ceo@acme.test,Cleo Chief,Leadership,,member;manager;admin,power-user,UCEO,
mia@acme.test,Mia Manager,Marketing,ceo@acme.test,member;manager,power-user,UMIA,
sam@acme.test,Sam Sales,Sales,ceo@acme.test,member;manager,power-user,USAM,
ann@acme.test,Ann Analyst,Marketing,mia@acme.test,member,default,UANN,
bob@acme.test,Bob Builder,Marketing,mia@acme.test,member,default,UBOB,
fay@acme.test,Fay Fast,Marketing,mia@acme.test,member,default,UFAY,
leo@acme.test,Leo Lucky,Marketing,mia@acme.test,member,default,ULEO,
tia@acme.test,Tia Template,Marketing,mia@acme.test,member,default,UTIA,
kim@acme.test,Kim Typical,Marketing,mia@acme.test,member,default,UKIM,
dan@acme.test,Dan Typical,Sales,sam@acme.test,member,default,UDAN,
eve@acme.test,Eve Typical,Sales,sam@acme.test,member,default,UEVE,
gus@acme.test,Gus Typical,Sales,sam@acme.test,member,default,UGUS,
hal@acme.test,Hal Saver,Sales,sam@acme.test,member,default,UHAL,
"""


@dataclass(frozen=True)
class Habit:
    tokens: int
    accepted: int  # of `briefs`; the rest are rejected
    edit_distance: float
    first_draft_seconds: int
    briefs: int = 8


TYPICAL = Habit(3_000, 6, 0.2, 600)
HABITS = {
    "ann": Habit(1_000, 8, 0.05, 300),
    "bob": Habit(12_000, 4, 0.4, 900),
    "fay": Habit(1_000, 8, 0.05, 300),
    "tia": TYPICAL,
    "kim": TYPICAL,
    "dan": TYPICAL,
    "eve": TYPICAL,
    "gus": TYPICAL,
    "hal": TYPICAL,
}
TEMPLATE_USERS = ("dan", "eve", "gus")  # use tia's template in the scored week

_ids = count(1)


def usage(
    user: str,
    tokens: int,
    at: datetime,
    *,
    use_case: str | None = "seo-brief",
    template_id: str | None = None,
    conversation_id: str | None = None,
    id: str | None = None,
) -> DemoUsage:
    """A usage event of `tokens` budget tokens on gpt-4o (weight 1)."""
    return DemoUsage(
        id=id or f"scoring-usage-{next(_ids)}",
        user=user,
        model="gpt-4o",
        input_tokens=tokens,
        output_tokens=0,
        cached_input_tokens=0,
        use_case=use_case,
        project=None,
        template_id=template_id,
        conversation_id=conversation_id,
        timestamp=at,
    )


def add_usage(services: Services, events: list[DemoUsage]) -> None:
    with services.db.unit_of_work() as uow:
        record_usage(uow.session, events, services.policy, services.clock())
        uow.commit()


def outcome(
    id: str,
    user: str,
    at: datetime,
    *,
    status: str = "accepted",
    use_case: str | None = "seo-brief",
    usage_ids: tuple[str, ...] = (),
    conversation_id: str | None = None,
    edit_distance: float | None = None,
    first_draft_seconds: int | None = None,
    template_id: str | None = None,
    artifact_id: str | None = None,
) -> OutcomeEvent:
    return OutcomeEvent(
        id=id,
        user=user,
        artifact_id=artifact_id or f"artifact-{id}",
        use_case=use_case,
        status=status,  # type: ignore[arg-type]
        usage_ids=usage_ids,
        conversation_id=conversation_id,
        edit_distance=edit_distance,
        minutes_saved=None,
        first_draft_seconds=first_draft_seconds,
        template_id=template_id,
        timestamp=at,
        content_fingerprint=None,
    )


def add_outcomes(services: Services, outcomes: list[OutcomeEvent]) -> None:
    with services.db.unit_of_work() as uow:
        record_outcomes(uow.session, outcomes, services.clock())
        uow.commit()


def verify_minutes(services: Services, email: str, artifact_id: str, minutes: int) -> None:
    """Claim minutes saved on an artifact and have the person's manager verify them."""
    with services.db.unit_of_work() as uow:
        person = find_person(uow.session, email)
        assert person is not None and person.manager_id is not None
        claim = claim_savings(
            uow.session, services.policy, person, artifact_id, minutes, services.clock()
        )
        manager = uow.session.get(Person, person.manager_id)
        decide_claim(uow.session, services.policy, manager, claim.claim_id, True, services.clock())
        uow.commit()


def add_flag(services: Services, person_id: int, week: str, status: str = "pending") -> None:
    with services.db.unit_of_work() as uow:
        uow.session.add(
            Flag(
                person_id=person_id,
                week=week,
                detector="test",
                status=status,
                evidence={},
                explanation="a test flag",
                created_at=services.clock(),
            )
        )
        uow.commit()


def scored_week(services: Services) -> Window:
    return week_by_key(services.policy.periods.zone, SCORED_WEEK)


def seed_org(services: Services) -> dict[str, int]:
    """Import the people, register tia's template, seed the weeks; returns name -> person id."""
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, PEOPLE_CSV, services.policy, services.clock())
        assert result.ok, result.errors
        uow.commit()
    with services.db.read() as session:
        ids = {p.email.split("@")[0]: p.id for p in session.query(Person)}
    with services.db.unit_of_work() as uow:
        uow.session.add(
            PromptTemplate(
                id="seo-brief-v3",
                name="SEO brief v3",
                use_case="seo-brief",
                author_id=ids["tia"],
                approved=True,
                created_at=services.clock(),
            )
        )
        uow.commit()
    week = scored_week(services)
    zone = services.policy.periods.zone
    events: list[DemoUsage] = []
    outcomes: list[OutcomeEvent] = []
    for back in range(HISTORY_WEEKS, -1, -1):
        start = week.start - timedelta(weeks=back)
        scored = back == 0
        for name, habit in HABITS.items():
            templated = scored and name in TEMPLATE_USERS
            for n in range(habit.briefs):
                at = (start + timedelta(days=1, hours=9, minutes=n)).astimezone(zone)
                key = f"{name}-{start:%Y%m%d}-{n}"
                tokens = 2_000 if templated else habit.tokens
                event = usage(
                    f"{name}@acme.test",
                    tokens,
                    at.astimezone(UTC),
                    template_id="seo-brief-v3" if templated else None,
                    conversation_id=key,
                    id=f"u-{key}",
                )
                events.append(event)
                accepted = n < habit.accepted
                outcomes.append(
                    outcome(
                        f"o-{key}",
                        f"{name}@acme.test",
                        at.astimezone(UTC) + timedelta(minutes=30),
                        status="accepted" if accepted else "rejected",
                        usage_ids=(event.id,),
                        conversation_id=key,
                        edit_distance=habit.edit_distance if accepted else None,
                        first_draft_seconds=habit.first_draft_seconds,
                        template_id=event.template_id,
                        artifact_id=f"brief-{key}",
                    )
                )
    lucky_at = week.start + timedelta(days=2, hours=10)
    events.append(usage("leo@acme.test", 300, lucky_at, conversation_id="leo-1", id="u-leo-1"))
    outcomes.append(
        outcome(
            "o-leo-1",
            "leo@acme.test",
            lucky_at + timedelta(minutes=30),
            usage_ids=("u-leo-1",),
            edit_distance=0.0,
            first_draft_seconds=120,
            artifact_id="brief-leo-1",
        )
    )
    add_usage(services, events)
    add_outcomes(services, outcomes)
    verify_minutes(services, "hal@acme.test", f"brief-hal-{week.start:%Y%m%d}-0", 90)
    add_flag(services, ids["fay"], SCORED_WEEK)
    return ids
