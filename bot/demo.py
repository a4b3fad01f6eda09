"""A realistic demo org: four teams, 30 people, eight weeks of usage across use cases and
models, seeded through the same services production uses (directory import, ledger).

Deterministic (fixed seed, stable event ids), and a second run on the same database adds
nothing: the directory upserts, usage ids deduplicate, grants and roll-overs are idempotent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.bootstrap import Services
from budgets.directory import find_person, import_directory
from budgets.ledger import expire, record_usage
from budgets.periods import period_for

DEMO_MEMBER = "liam.walsh@demo.example"
DEMO_DOMAIN = "demo.example"
DEMO_WEEKS = 8

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


def demo_usage(
    people: list[dict[str, str]], start: datetime, days: int, seed: int = 7
) -> dict[int, list[DemoUsage]]:
    """Usage per day index. Each person has a habit: efficient, typical, or bloated prompts."""
    rng = random.Random(seed)
    by_day: dict[int, list[DemoUsage]] = {}
    habits = {p["email"]: rng.choice((0.6, 1.0, 1.0, 1.4)) for p in people}
    habits[people[3]["email"]] = 3.0  # one heavy spender with bloated context
    for day in range(days):
        moment = start + timedelta(days=day)
        if moment.weekday() >= 5:
            continue
        events = []
        for p in people:
            use_cases = TEAMS[p["team"]]
            for n in range(rng.randint(0, 6)):
                use_case = rng.choice(use_cases)
                model = rng.choice(MODELS[use_case])
                size = int(rng.lognormvariate(8.6, 0.7) * habits[p["email"]])
                output = int(size * rng.uniform(0.2, 0.9))
                at = moment.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(
                    minutes=rng.randint(0, 540)
                )
                events.append(
                    DemoUsage(
                        id=f"demo:{p['email']}:{day}:{n}",
                        user=p["email"],
                        model=model,
                        input_tokens=size,
                        output_tokens=output,
                        cached_input_tokens=int(size * rng.choice((0, 0, 0.3))),
                        use_case=use_case,
                        project=None,
                        template_id=f"{use_case}-v1" if rng.random() < 0.3 else None,
                        conversation_id=f"demo-conv:{p['email']}:{day}:{n // 3}",
                        timestamp=at,
                    )
                )
        by_day[day] = events
    return by_day


def seed_demo(services: Services) -> str:
    now = services.clock()
    policy = services.policy
    with services.db.read() as session:
        if find_person(session, DEMO_MEMBER) is not None:
            return "The demo org is already seeded in this database."
    people = demo_people()
    start = (now - timedelta(weeks=DEMO_WEEKS)).replace(hour=0, minute=0, second=0, microsecond=0)
    total = 0
    with services.db.unit_of_work() as uow:
        result = import_directory(uow.session, directory_csv(people), policy, start)
        if not result.ok:  # a bug in the demo data, not user input
            raise RuntimeError("demo directory is invalid: " + "; ".join(map(str, result.errors)))
        uow.commit()
    period = period_for(policy.periods, start)
    for day, events in sorted(demo_usage(people, start, DEMO_WEEKS * 7).items()):
        events = [e for e in events if e.timestamp <= now]
        moment = start + timedelta(days=day)
        with services.db.unit_of_work() as uow:
            while moment >= period.end:
                expire(uow.session, policy, period, period.end)
                period = period_for(policy.periods, period.end)
            total += record_usage(uow.session, events, policy, now).recorded
            uow.commit()
    with services.db.unit_of_work() as uow:
        while now >= period.end:
            expire(uow.session, policy, period, period.end)
            period = period_for(policy.periods, period.end)
        uow.commit()
    return f"Seeded the demo org: {len(people)} people in {len(TEAMS)} teams, {total:,} usage events over {DEMO_WEEKS} weeks."
