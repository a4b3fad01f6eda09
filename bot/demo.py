"""A realistic demo org: four teams, 30 people, eight weeks of usage across use cases and
models, what became of the work (accepted, revised or rejected artifacts, with edit distances,
minutes saved and a few savings their managers verified), three approved prompt templates with text (and one waiting for approval),
three people whose gaming was flagged (one flag pending, one disputed, one upheld), a burst request waiting for the demo member's manager,
the demo member's own small request approved at once by an auto-approval rule (its Undo open to the manager),
and shares of the Marketing pool that manager set for the demo member and a colleague, so `balance`, `score`, `leaderboard`,
`templates`, `team` and `team allocations` all have something to show. `demo_policy` adds a project with members
(the Marketing team and one analyst by email) and a launch pool for Marketing's ad copy over
the week before last, lapsed and reported to its owner when the demo is seeded. Seeded through the same services production
uses (directory import, ledger, outcome store, template registry, savings claims, requests).

Deterministic (fixed seeds, stable ids), and seeded once per database: a second run finds the
demo member and adds nothing. (The data hangs off the day it was seeded, eight weeks back from
then, so later runs could not add to it consistently anyway.)
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.bootstrap import Services
from bot.core import prompt_text
from bot.core.presenters.flags import explain
from budgets.directory import find_person, import_directory
from budgets.ledger import expire, record_usage
from budgets.periods import period_for
from budgets.policy import AutoApprovalRule, Members, Policy, ProjectBudget, ReservedPool
from budgets.request_views import RequestView
from budgets.requests import create_request
from budgets.settings import change_settings
from budgets.team_shares import OVER_POOL, AllocationRefused, allocate
from budgets.windows import last_complete_week, previous_week
from ingest.events import OutcomeEvent, OutcomeStatus
from ingest.store import record_outcomes
from scoring import template_library as library
from scoring.detectors import Conversation, Finding, chat_loops, output_spam, prompt_spam
from scoring.flags import dispute, resolve, write_flags
from scoring.governance import governance_settings
from scoring.savings import claim_limit, claim_savings, decide_claim
from scoring.standing import requester_standing
from storage.models import Outcome, Person

DEMO_MEMBER = "liam.walsh@demo.example"
DEMO_DOMAIN = "demo.example"
DEMO_WEEKS = 8
DEMO_MANAGER = "maya.patel@demo.example"  # the demo member's manager
# People whose gaming the detectors flagged in the week `score` and `leaderboard` cover, with
# what became of the flag: pending, disputed by the person, upheld by their manager. Without
# their flags they would be recognised for efficiency, so every screen shows them left out.
DEMO_GAMERS = {
    "felix.weber@demo.example": ("prompt_spam", "pending"),
    "hugo.laurent@demo.example": ("output_spam", "disputed"),
    "kenji.sato@demo.example": ("chat_loops", "upheld"),
}
DEMO_DISPUTE = "Those were retries while the provider timed out, not new requests."


@dataclass(frozen=True)
class DemoTemplate:
    id: str
    name: str
    author: str
    text: str = ""
    description: str = ""


# Approved templates, by use case; templated work takes fewer tokens and is accepted more.
DEMO_TEMPLATES = {
    "seo-brief": DemoTemplate(
        "seo-brief-v1",
        "SEO brief v1",
        "sofia.rossi@demo.example",
        "Write an SEO brief for a page about {{ topic }}.\n"
        "Primary keyword: {{ keyword }}. Audience: {{ audience | default('general readers', true) }}.\n"
        "Give a title under 60 characters, a meta description under 155, five H2s and the "
        "questions the page must answer.",
        "A landing-page brief from a topic and a keyword, not a pasted competitor page",
    ),
    "support-reply": DemoTemplate(
        "support-reply-v1",
        "Support reply v1",
        "diego.lopez@demo.example",
        "Draft a reply to a customer about {{ issue }}.\n"
        "What we know: {{ facts }}\n"
        "{% if next_step %}Offer this next step: {{ next_step }}\n{% endif %}"
        "Be brief and friendly; no promises about dates.",
        "A first reply from the facts of the ticket, without pasting the whole thread",
    ),
    "data-analysis": DemoTemplate(
        "data-analysis-v1",
        "Data analysis v1",
        "ravi.menon@demo.example",
        "Columns: {{ columns }}.\nQuestion: {{ question }}.\n"
        "Write the SQL, then explain in three sentences what the result will show.",
        "A query and its reading from the column list and the question",
    ),
}
# Proposed by the demo member and waiting for an admin (ad-copy has no owner in the demo).
DEMO_PROPOSAL = (
    "ad-copy",
    DemoTemplate(
        "ad-copy-v1",
        "Ad copy v1",
        DEMO_MEMBER,
        "Five ad headlines for {{ product }} aimed at {{ audience }}, under 30 characters "
        "each, tone {{ tone | default('plain', true) }}.",
        "Short ad headlines from the product and the audience",
    ),
)
TEMPLATE_TOKEN_SHARE = 0.6
# A project with members: the Marketing team's SEO briefs and one analyst's analyses (by email)
# are tagged with it on even days; and a launch pool for Marketing's ad copy.
DEMO_PROJECT = "Spring campaign"
DEMO_PROJECT_ANALYST = "ravi.menon@demo.example"
DEMO_LAUNCH = "Launch week"
# Whose minutes saved in the last two complete weeks their manager verified.
DEMO_SAVERS = (
    DEMO_MEMBER,
    "kenji.sato@demo.example",
    "grace.lee@demo.example",
    "ines.costa@demo.example",
    "theo.clark@demo.example",
)
# A burst request from a colleague of the demo member, waiting for their manager.
DEMO_REQUEST = ("sofia.rossi@demo.example", 300_000, "Q4 campaign: 40 landing-page briefs")
# The demo member's own small request, approved at once by this auto-approval rule (the demo
# seeds it as if the policy had the rule; `[[approvals.auto]]` in README), so their manager
# has an Undo to try: `request undo ID` as the manager, or the button in their notice.
DEMO_AUTO_RULE = AutoApprovalRule(
    name="demo-small-bursts",
    max_amount=50_000,
    max_per_period=2,
    min_acceptance=Decimal("0"),
    undo_hours=72,
)
DEMO_AUTO_REQUEST = (DEMO_MEMBER, 40_000, "Extra research for the onboarding guide")

# Shares of the Marketing pool the demo member's manager set for the current period (issue 23):
# the demo member and a colleague; the rest of the team shares what is left unallocated.
DEMO_SHARES = (
    (DEMO_MEMBER, 1_000_000),
    ("sofia.rossi@demo.example", 750_000),
)

TEAMS = {
    "Marketing": ("seo-brief", "ad-copy", "research"),
    "Engineering": ("coding", "security-review", "research"),
    "Support": ("support-reply", "data-analysis"),
    "Analytics": ("data-analysis", "research", "coding"),
}
FIRST = [
    "Maya",
    "Liam",
    "Sofia",
    "Noah",
    "Aisha",
    "Kenji",
    "Elena",
    "Omar",
    "Grace",
    "Mateo",
    "Priya",
    "Lucas",
    "Hana",
    "Ethan",
    "Zara",
    "Diego",
    "Ines",
    "Felix",
    "Amara",
    "Jonas",
    "Chloe",
    "Ravi",
    "Nora",
    "Theo",
    "Lena",
    "Samir",
    "Mila",
    "Owen",
    "Yara",
    "Hugo",
]
LAST = [
    "Patel",
    "Walsh",
    "Rossi",
    "Kim",
    "Khan",
    "Sato",
    "Novak",
    "Haddad",
    "Lee",
    "Garcia",
    "Iyer",
    "Martin",
    "Tanaka",
    "Brown",
    "Ali",
    "Lopez",
    "Costa",
    "Weber",
    "Okafor",
    "Berg",
    "Dubois",
    "Menon",
    "Olsen",
    "Clark",
    "Fischer",
    "Aziz",
    "Horvat",
    "Reid",
    "Nasser",
    "Laurent",
]
MODELS = {
    "seo-brief": ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4"),
    "ad-copy": ("gpt-4o-mini", "gpt-4o"),
    "research": ("claude-sonnet-4", "gpt-4o", "o3"),
    "coding": ("claude-sonnet-4", "gpt-4.1", "gpt-4.1-mini"),
    "security-review": ("claude-opus-4", "gpt-4.1"),
    "support-reply": ("gpt-4o-mini", "claude-haiku-3.5"),
    "data-analysis": ("gpt-4.1", "gpt-4o"),
}


@dataclass(frozen=True)
class DemoUsage:
    id: str
    user: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    use_case: str | None
    project: str | None
    template_id: str | None
    conversation_id: str | None
    timestamp: datetime
    prompt_fingerprint: str | None = None


def demo_policy(policy: Policy, now: datetime) -> Policy:
    """`policy` with the demo's project (members: the Marketing team and the analyst) and its
    launch pool for Marketing's ad copy over the week before the last complete one (so the
    seeded demo has a window that ended, lapsed and was reported, and a week before it)."""
    zone = policy.periods.zone
    monday = previous_week(zone, last_complete_week(zone, now)).start.astimezone(zone).date()
    project = ProjectBudget(
        DEMO_PROJECT,
        DEMO_MANAGER,
        3_000_000,
        "open",
        Members(frozenset({DEMO_PROJECT_ANALYST}), frozenset({"marketing"})),
    )
    launch = ReservedPool(
        DEMO_LAUNCH,
        "ad-copy",
        2_000_000,
        Members(teams=frozenset({"marketing"})),
        starts=monday,
        ends=monday + timedelta(days=6),
        owner=DEMO_MANAGER,
    )
    return replace(
        policy,
        projects={**policy.projects, DEMO_PROJECT: project},
        reserved_pools=(*policy.reserved_pools, launch),
    )


def demo_people() -> list[dict[str, str]]:
    """30 people: a manager per team, one admin, one finance partner, the rest members."""
    people = []
    names = iter(zip(FIRST, LAST, strict=True))
    for team_index, team in enumerate(TEAMS):
        first, last = next(names)
        manager = f"{first.lower()}.{last.lower()}@{DEMO_DOMAIN}"
        roles = "member;manager" + (";admin" if team_index == 1 else "")
        people.append(
            {
                "email": manager,
                "name": f"{first} {last}",
                "team": team,
                "manager_email": "",
                "roles": roles,
                "tier": "power-user",
            }
        )
        for _ in range(6 if team != "Support" else 5):
            first, last = next(names)
            people.append(
                {
                    "email": f"{first.lower()}.{last.lower()}@{DEMO_DOMAIN}",
                    "name": f"{first} {last}",
                    "team": team,
                    "manager_email": manager,
                    "roles": "member",
                    "tier": "default",
                }
            )
    for first, last in names:
        team = "Analytics"
        people.append(
            {
                "email": f"{first.lower()}.{last.lower()}@{DEMO_DOMAIN}",
                "name": f"{first} {last}",
                "team": team,
                "manager_email": people[-1]["manager_email"] or people[-1]["email"],
                "roles": "member;finance",
                "tier": "light",
            }
        )
    return people


def directory_csv(people: list[dict[str, str]]) -> str:
    header = "email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"
    rows = [
        f"{p['email']},{p['name']},{p['team']},{p['manager_email']},{p['roles']},{p['tier']},,"
        for p in people
    ]
    return "\n".join([header, *rows]) + "\n"


def demo_habits(people: list[dict[str, str]], rng: random.Random) -> dict[str, float]:
    """Each person's prompt habit, a token multiplier: efficient, typical, or bloated."""
    habits = {p["email"]: rng.choice((0.6, 1.0, 1.0, 1.4)) for p in people}
    habits[people[3]["email"]] = 3.0  # one heavy spender with bloated context
    return habits


def demo_usage(
    people: list[dict[str, str]],
    start: datetime,
    days: int,
    seed: int = 7,
    project: str | None = None,
) -> dict[int, list[DemoUsage]]:
    """Usage per day index, by each person's habit, in conversations of up to three calls;
    work with a registered template (for the use cases that have one) takes
    TEMPLATE_TOKEN_SHARE of the tokens. With a `project`, SEO briefs and the analyst's
    analyses of even days are tagged with it."""
    rng = random.Random(seed)
    by_day: dict[int, list[DemoUsage]] = {}
    habits = demo_habits(people, rng)
    for day in range(days):
        moment = start + timedelta(days=day)
        if moment.weekday() >= 5:
            continue
        events = []
        for p in people:
            use_cases = TEAMS[p["team"]]
            for n in range(rng.randint(0, 6)):
                if n % 3 == 0:  # a conversation: one task, so one use case, model and template
                    use_case = rng.choice(use_cases)
                    model = rng.choice(MODELS[use_case])
                    template = DEMO_TEMPLATES.get(use_case) if rng.random() < 0.4 else None
                    share = TEMPLATE_TOKEN_SHARE if template else 1.0
                size = int(rng.lognormvariate(8.6, 0.7) * habits[p["email"]])
                output = int(size * rng.uniform(0.2, 0.9))
                at = moment.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(
                    minutes=rng.randint(0, 540)
                )
                cached = int(size * rng.choice((0, 0, 0.3)))
                events.append(
                    DemoUsage(
                        id=f"demo:{p['email']}:{day}:{n}",
                        user=p["email"],
                        model=model,
                        input_tokens=int(size * share),
                        output_tokens=int(output * share),
                        cached_input_tokens=int(cached * share),
                        use_case=use_case,
                        project=project
                        if day % 2 == 0
                        and (
                            use_case == "seo-brief"
                            or (p["email"] == DEMO_PROJECT_ANALYST and use_case == "data-analysis")
                        )
                        else None,
                        template_id=template.id if template else None,
                        conversation_id=f"demo-conv:{p['email']}:{day}:{n // 3}",
                        timestamp=at,
                    )
                )
        by_day[day] = events
    return by_day


# accepted, revised, rejected: how an artifact ends, by prompt habit.
OUTCOME_ODDS = {
    0.6: (0.65, 0.25, 0.10),
    1.0: (0.45, 0.30, 0.25),
    1.4: (0.35, 0.30, 0.35),
    3.0: (0.25, 0.25, 0.50),
}


def demo_outcomes(
    people: list[dict[str, str]],
    events: list[DemoUsage],
    now: datetime,
    seed: int = 7,
) -> list[OutcomeEvent]:
    """One artifact for most conversations (some are abandoned): accepted as is, revised or
    rejected by the person's habit (better with a template), with an edit distance, a time to
    first draft and, for some accepted work, the minutes it saved. Nothing after `now`."""
    habits = demo_habits(people, random.Random(seed))  # the habits demo_usage drew
    rng = random.Random(seed + 1)
    conversations: dict[str, list[DemoUsage]] = defaultdict(list)
    for event in events:
        if event.conversation_id is not None:
            conversations[event.conversation_id].append(event)
    outcomes = []
    for conversation_id in sorted(conversations):
        calls = sorted(conversations[conversation_id], key=lambda e: (e.timestamp, e.id))
        first, last = calls[0], calls[-1]
        if rng.random() < 0.15:  # abandoned: spend without a result
            continue
        accepted, revised, _rejected = OUTCOME_ODDS[habits[first.user]]
        if first.template_id:
            accepted += 0.1
        draw = rng.random()
        status: OutcomeStatus = (
            "accepted"
            if draw < accepted
            else "revised"
            if draw < accepted + revised
            else "rejected"
        )
        edit = {"accepted": rng.uniform(0, 0.08), "revised": rng.uniform(0.15, 0.5)}.get(status)
        saved = (
            rng.choice((5, 10, 15, 20, 30, 45))
            if status != "rejected" and rng.random() < 0.4
            else None
        )
        at = last.timestamp + timedelta(minutes=rng.randint(10, 90))
        if at > now:
            continue
        _, email, day, number = conversation_id.split(":")
        outcomes.append(
            OutcomeEvent(
                id=f"demo-outcome:{email}:{day}:{number}",
                user=email,
                artifact_id=f"{email.split('.')[0]}-{day}-{number}",
                use_case=first.use_case,
                status=status,
                usage_ids=tuple(e.id for e in calls),
                conversation_id=conversation_id,
                edit_distance=None if edit is None else round(edit, 3),
                minutes_saved=saved,
                first_draft_seconds=int(rng.uniform(120, 600) * habits[first.user]),
                template_id=first.template_id,
                timestamp=at,
                content_fingerprint=None,
            )
        )
    return outcomes


def add_demo_template(
    session: Session,
    policy: Policy,
    use_case: str,
    template: DemoTemplate,
    at: datetime,
    *,
    approved: bool,
) -> None:
    """Through the prompt library, as an admin's `templates add` or a chat proposal would."""
    checked = prompt_text.check(template.text)
    draft = library.Draft(
        template.id, template.name, use_case, template.description, checked.text, checked.variables
    )
    library.propose(
        session,
        policy,
        draft,
        find_person(session, template.author),
        at,
        approved_by="demo" if approved else None,
    )


def seed_demo(services: Services) -> str:
    now = services.clock()
    policy = services.policy
    with services.db.read() as session:
        if find_person(session, DEMO_MEMBER) is not None:
            return "The demo org is already seeded in this database."
    people = demo_people()
    start = (now - timedelta(weeks=DEMO_WEEKS)).replace(hour=0, minute=0, second=0, microsecond=0)
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, directory_csv(people), policy, start)
        if not result.ok:  # a bug in the demo data, not user input
            raise RuntimeError("demo directory is invalid: " + "; ".join(map(str, result.errors)))
        for use_case, template in DEMO_TEMPLATES.items():
            add_demo_template(uow.session, policy, use_case, template, start, approved=True)
        add_demo_template(uow.session, policy, *DEMO_PROPOSAL, now, approved=False)
        uow.commit()
    recorded = seed_usage(services, people, start)
    with services.db.unit_of_work() as uow:
        outcomes = record_outcomes(uow.session, demo_outcomes(people, recorded, now), now).recorded
        uow.commit()
    verify_demo_savings(services)
    flagged = flag_demo_gamers(services)
    email, amount, reason = DEMO_REQUEST
    with services.db.unit_of_work() as uow:
        requester = find_person(uow.session, email)
        assert requester is not None
        created = create_request(uow.session, policy, requester, amount, reason, now=now)
        approver = uow.session.get(Person, created.request.approver_id)
        approver_name = approver.name if approver else "a manager"
        auto = seed_auto_approved(uow.session, policy, now)
        uow.commit()
    seed_demo_settings(services)
    shares = allocate_demo_shares(services)
    summary = (
        f"Seeded the demo org: {len(people)} people in {len(TEAMS)} teams, "
        f"{len(recorded):,} usage events and {outcomes:,} outcomes over {DEMO_WEEKS} weeks, "
        f"{len(DEMO_TEMPLATES)} prompt templates (and one waiting for approval), "
        f"{flagged} gaming flags (one disputed, one upheld), a burst request awaiting "
        f"{approver_name}, and request #{auto.id} approved by the rule {DEMO_AUTO_RULE.name} "
        f"(its Undo open to {auto.approver_name} until "
        f"{auto.undo_until:%Y-%m-%d %H:%M} UTC: `request undo {auto.id}`), personal "
        f"settings for {len(DEMO_SETTINGS)} people (`settings` shows yours), and {shares} "
        "shares of the Marketing pool."
    )
    return summary + seed_launch(services)


def seed_launch(services: Services) -> str:
    """The demo's launch pool, when the policy has it (`demo_policy`): its window is over, so
    the launches job lapses what is left and queues the report for its owner."""
    from bot.jobs import run_launches  # the job a running installation would run

    pool = next((p for p in services.policy.launch_pools if p.name == DEMO_LAUNCH), None)
    if pool is None or DEMO_PROJECT not in services.policy.projects:
        return ""
    result = run_launches(services, [])
    return (
        f" The {DEMO_PROJECT} project is for the Marketing team and {DEMO_PROJECT_ANALYST}; "
        f"the {DEMO_LAUNCH} pool ({pool.starts} to {pool.ends}, Marketing's ad copy) "
        f"has lapsed and its report is queued for its owner ({result.enqueued} message)."
    )


def seed_auto_approved(session: Session, policy: Policy, now: datetime) -> RequestView:
    """The demo member's request, approved by DEMO_AUTO_RULE as a policy with it would."""
    email, amount, reason = DEMO_AUTO_REQUEST
    requester = find_person(session, email)
    assert requester is not None
    with_rule = replace(policy, auto_approvals=(*policy.auto_approvals, DEMO_AUTO_RULE))
    standing = requester_standing(session, with_rule, requester.id, None, now)
    created = create_request(
        session, with_rule, requester, amount, reason, now=now, standing=standing
    )
    if created.request.auto_rule is None:  # a bug in the demo data, not user input
        raise RuntimeError(f"the demo rule did not approve: {created.misses}")
    return created.request


# People who chose their own notices (`settings`); everyone else has the policy's defaults.
DEMO_SETTINGS = {
    DEMO_MANAGER: {"quiet_hours": "19:00-08:00", "alerts": "90%"},
    DEMO_MEMBER: {"digest": "on", "reminders": "on", "quiet_hours": "22:00-07:00"},
}


def seed_demo_settings(services: Services) -> None:
    now = services.clock()
    with services.db.unit_of_work() as uow:
        for email, values in DEMO_SETTINGS.items():
            person = find_person(uow.session, email)
            assert person is not None
            change_settings(uow.session, services.policy, person, values, now)
        uow.commit()


def allocate_demo_shares(services: Services) -> int:
    """The demo member's manager sets `DEMO_SHARES` for the current period, each as much of
    it as the pool still has unallocated after the usage seeded (`team allocate`'s rule)."""
    now = services.clock()
    allocated = 0
    with services.db.unit_of_work() as uow:
        manager = find_person(uow.session, DEMO_MANAGER)
        assert manager is not None
        for email, amount in DEMO_SHARES:
            member = find_person(uow.session, email)
            try:
                allocate(uow.session, services.policy, manager, member, amount, now)
            except AllocationRefused as refused:
                left = int(refused.facts.get("unallocated", 0))
                if refused.code != OVER_POOL or left == 0:
                    continue
                allocate(uow.session, services.policy, manager, member, left, now)
            allocated += 1
        uow.commit()
    return allocated


def seed_usage(
    services: Services, people: list[dict[str, str]], start: datetime
) -> list[DemoUsage]:
    """Record the usage day by day, closing each budget period as the days pass it, as a
    running installation would; returns the events recorded (none after now)."""
    now = services.clock()
    policy = services.policy
    period = period_for(policy.periods, start)
    recorded: list[DemoUsage] = []
    project = DEMO_PROJECT if DEMO_PROJECT in policy.projects else None
    for day, events in sorted(demo_usage(people, start, DEMO_WEEKS * 7, project=project).items()):
        events = [e for e in events if e.timestamp <= now]
        moment = start + timedelta(days=day)
        with services.db.unit_of_work() as uow:
            while moment >= period.end:
                expire(uow.session, policy, period, period.end)
                period = period_for(policy.periods, period.end)
            record_usage(uow.session, events, policy, now)
            uow.commit()
        recorded.extend(events)
    with services.db.unit_of_work() as uow:
        while now >= period.end:
            expire(uow.session, policy, period, period.end)
            period = period_for(policy.periods, period.end)
        uow.commit()
    return recorded


def verify_demo_savings(services: Services) -> int:
    """The DEMO_SAVERS claim the minutes their accepted work of the last two complete weeks
    saved, and their managers verify them (`claim`, then the manager's Verify button)."""
    now = services.clock()
    policy = services.policy
    last = last_complete_week(policy.periods.zone, now)
    since = previous_week(policy.periods.zone, last).start
    verified = 0
    with services.db.unit_of_work() as uow:
        session = uow.session
        for email in DEMO_SAVERS:
            person = find_person(session, email)
            manager = (
                session.get(Person, person.manager_id) if person and person.manager_id else None
            )
            if person is None or manager is None:
                continue
            saved = session.scalars(
                select(Outcome)
                .where(
                    Outcome.person_id == person.id,
                    Outcome.status.in_(("accepted", "revised")),
                    Outcome.minutes_saved.is_not(None),
                    Outcome.minutes_verified.is_(False),
                    Outcome.occurred_at >= since,
                    Outcome.occurred_at < last.end,
                )
                .order_by(Outcome.occurred_at, Outcome.id)
                .limit(3)
            ).all()
            for outcome in saved:
                # what the tools reported, within the policy's bound on one claim
                minutes = min(
                    int(outcome.minutes_saved or 0), claim_limit(policy, outcome.minutes_saved)[0]
                )
                claim = claim_savings(session, policy, person, outcome.artifact_id, minutes, now)
                decide_claim(session, policy, manager, claim.claim_id, True, now)
                verified += 1
        uow.commit()
    return verified


def flag_demo_gamers(services: Services) -> int:
    """Flag the DEMO_GAMERS for the last complete week with the evidence the detectors report
    for such a week (the detectors' own functions and the policy's thresholds), stored as the
    `detectors` job stores flags; then one disputes theirs and a manager upholds another.
    Returns the number of flags."""
    now = services.clock()
    policy = services.policy
    week = last_complete_week(policy.periods.zone, now)
    settings = governance_settings(policy)
    evidence = {
        "prompt_spam": prompt_spam(
            {"00000000deadbeef": 34, "1234567890abcdef": 6, "0f0f0f0f0f0f0f0f": 2},
            42,
            settings.prompt_spam,
        ),
        "output_spam": output_spam(
            {"a1b2c3d4e5f60718": 6, "a1b2c3d4e5f60719": 3, "0f0f0f0f0f0f0f0f": 9},
            18,
            settings.output_spam,
        ),
        # 5 of the week's 12 conversations went round in circles.
        "chat_loops": chat_loops(
            [Conversation(22, 80_000, False)] * 5, 500_000, 12, settings.chat_loops
        ),
    }
    with services.db.unit_of_work() as uow:
        session = uow.session
        people = {email: find_person(session, email) for email in DEMO_GAMERS}
        findings = [
            Finding(person.id, week.key, detector, found)
            for email, (detector, _fate) in DEMO_GAMERS.items()
            if (person := people[email]) is not None and (found := evidence[detector]) is not None
        ]
        flags = write_flags(session, week.key, findings, now, explain)
        by_person = {flag.person_id: flag.id for flag in flags}
        for email, (_detector, fate) in DEMO_GAMERS.items():
            person = people[email]
            if person is None or person.id not in by_person:
                continue
            if fate == "disputed":
                dispute(session, by_person[person.id], person, now, DEMO_DISPUTE)
            elif fate == "upheld" and person.manager_id is not None:
                manager = session.get(Person, person.manager_id)
                assert manager is not None
                resolve(session, by_person[person.id], manager, "upheld", now)
        uow.commit()
    return len(findings)
