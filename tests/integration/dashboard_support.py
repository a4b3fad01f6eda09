"""A small org with two months of work for the dashboard tests (integration and browser).

Roles: Cleo (admin, top manager), Eli (executive), Finn (finance), Mia (manages Ann and Bob,
Marketing), Sam (manages Dan, in the team "R&D <Labs>": a name that must come out escaped).
Work in seo-brief in October and November 2026 (the conftest clock is Wed 18 November): Ann
cheap and accepted, Bob dear and heavily revised, Dan in between, with a pending flag on Ann in
2026-W46, 45 verified minutes for Ann, and a project whose name starts like a formula.
Refused authorize calls (`REFUSED`): Ann's personal use in October and twice in November,
Dan's once in November, and a stranger's in November.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from bot.bootstrap import Services
from bot.core.signin import issue_link
from budgets.authorize import authorize
from budgets.directory import find_person, import_directory
from budgets.refusals import record_refusal
from scoring.savings import claim_savings, decide_claim
from storage.models import Flag, Person
from tests.integration.governance_support import call, record, result

PEOPLE_CSV = """email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id
ceo@acme.test,Cleo Chief,Leadership,,member;manager;admin,power-user,UCEO,
exe@acme.test,Eli Exec,Leadership,ceo@acme.test,member;executive,default,UEXE,
fin@acme.test,Finn Finance,Finance,ceo@acme.test,member;finance,default,UFIN,
mia@acme.test,Mia Manager,Marketing,ceo@acme.test,member;manager,power-user,UMIA,
ann@acme.test,Ann Analyst,Marketing,mia@acme.test,member,default,UANN,
bob@acme.test,Bob Builder,Marketing,mia@acme.test,member,default,UBOB,
sam@acme.test,Sam Sales,R&D <Labs>,ceo@acme.test,member;manager,default,USAM,
dan@acme.test,Dan Deals,R&D <Labs>,sam@acme.test,member,default,UDAN,
"""

ROLES = {
    "admin": "ceo@acme.test",
    "executive": "exe@acme.test",
    "finance": "fin@acme.test",
    "manager": "mia@acme.test",
    "member": "ann@acme.test",
}
FORMULA_PROJECT = '=HYPERLINK("http://evil.test","x")'
MONTH = "2026-11"
# (identity, use case, when): what the gateway asked and authorize refused
REFUSED = (
    ("ann@acme.test", "personal", datetime(2026, 10, 14, 9, tzinfo=UTC)),
    ("ann@acme.test", "personal", datetime(2026, 11, 3, 9, tzinfo=UTC)),
    ("ann@acme.test", "personal", datetime(2026, 11, 10, 9, tzinfo=UTC)),
    ("dan@acme.test", "personal", datetime(2026, 11, 10, 9, tzinfo=UTC)),
    ("stranger@else.test", "seo-brief", datetime(2026, 11, 11, 9, tzinfo=UTC)),
)


def day(month: int, number: int, minute: int = 0) -> datetime:
    return datetime(2026, month, number, 10, minute, tzinfo=UTC)


def seed_org(services: Services) -> dict[str, Person]:
    with services.db.unit_of_work() as uow:
        imported = import_directory(uow.session, PEOPLE_CSV, services.policy, services.clock())
        assert imported.ok, imported.errors
        uow.commit()
    usage, outcomes = [], []
    for month in (10, 11):
        usage += [call("ann@acme.test", day(month, 9, i), tokens=4_000) for i in range(5)]
        usage += [call("bob@acme.test", day(month, 10, i), tokens=40_000) for i in range(5)]
        usage += [call("dan@acme.test", day(month, 11, i), tokens=12_000) for i in range(5)]
        usage += [call("mia@acme.test", day(month, 12, i), tokens=8_000) for i in range(2)]
        outcomes += [result("ann@acme.test", day(month, 9, 30 + i)) for i in range(5)]
        outcomes += [
            result("bob@acme.test", day(month, 10, 30 + i), status="revised", edit_distance=0.6)
            for i in range(5)
        ]
        outcomes += [result("bob@acme.test", day(month, 10, 40), status="rejected")]
        outcomes += [result("dan@acme.test", day(month, 11, 30 + i)) for i in range(4)]
        outcomes += [result("dan@acme.test", day(month, 11, 40), status="rejected")]
    usage.append(replace(call("dan@acme.test", day(11, 12)), project=FORMULA_PROJECT))
    record(services, usage, outcomes)
    with services.db.unit_of_work() as uow:
        ann = find_person(uow.session, "ann@acme.test")
        artifact = next(  # one of Ann's November briefs
            o.artifact_id for o in outcomes if o.user == "ann@acme.test" and o.timestamp.month == 11
        )
        claim = claim_savings(uow.session, services.policy, ann, artifact, 45, services.clock())
        mia = find_person(uow.session, "mia@acme.test")
        decide_claim(uow.session, services.policy, mia, claim.claim_id, True, services.clock())
        uow.session.add(
            Flag(
                person_id=ann.id,
                week="2026-W46",
                detector="prompt_spam",
                status="pending",
                evidence={},
                explanation="The same prompt <b>sent</b> 40 times this week.",
                created_at=services.clock(),
            )
        )
        for identity, use_case, at in REFUSED:
            decision = authorize(
                uow.session, services.policy, identity, "gpt-4o", 100, use_case, None, at
            )
            assert not decision.allow
            record_refusal(uow.session, decision, identity, "gpt-4o", None, at)
        uow.commit()
    with services.db.read() as session:
        return {p.email: p for p in session.query(Person).all()}


def link_for(services: Services, email: str, base: str = "http://dashboard.test") -> str:
    with services.db.unit_of_work() as uow:
        link = issue_link(uow.session, find_person(uow.session, email), base, services.clock())
        uow.commit()
    return link.url


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


def figure(html: str, name: str) -> str:
    """The text of the element marked data-figure=NAME (tags inside removed)."""
    found = re.search(rf'data-figure="{name}"[^>]*>(.*?)</', html, re.S)
    assert found, f"no figure {name!r} on the page"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)
