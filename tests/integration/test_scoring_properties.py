"""Every number `score`, `leaderboard` and the spotlight show can be recomputed from what is
shown beside it, and every screen applies the one eligibility rule.

Each example empties the tables and builds a small random org on the real database under test
(people in two teams, usage and outcomes in one or two use cases over two history weeks and the
scored week, flags in every status), then asks for everyone's `score` (as the admin, through the
console dispatcher), their App Home, the `leaderboard` and the week's spotlight posts, parses
the text people read and checks:
- each component line's multiple is its counted value against its baseline (with the smoothing
  and the cap the reply names), to the precision shown; "a of b" matches the rate shown and,
  with one use case, what shrinkage counts; with several use cases, the multiple is the mean of
  the use cases' multiples weighted by the shares shown;
- weight x multiple = points (to 0.1, exactly), and the points add up to the score, exactly;
- each leaderboard line's multiple is the ratio of the figures it shows (per use case, then
  their weighted mean, or the mean of acceptance and edits);
- nobody the leaderboard or a spotlight post names is told by `score` that they are not
  eligible (too few artifacts, a flag), and nobody with a flag that is not cleared is named;
- the App Home shows the score `score` shows, and the same flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.dashboard import dashboard_reply
from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingMessage
from bot.jobs import spotlight_content
from budgets.directory import import_directory
from scoring.baselines import HIGHER_IS_BETTER, SMOOTHING, index_against, shrink
from scoring.config import scoring_settings
from storage.models import Person
from tests.conftest import empty_all_tables
from tests.integration.scoring_support import (
    SCORED_WEEK,
    add_flag,
    add_outcomes,
    add_usage,
    outcome,
    scored_week,
    usage,
)

EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
USE_CASES = ("seo-brief", "coding")
NAMES = ("Ada", "Ben", "Cal", "Dot", "Eli", "Fox")
FLAG_STATUSES = ("pending", "disputed", "upheld", "cleared")


@dataclass(frozen=True)
class Work:
    """One person's work in one use case and week."""

    artifacts: int
    accepted: int  # of which accepted (as is)
    revised: int  # of which revised (the rest rejected)
    tokens_per_artifact: int
    edit_distance: float
    first_draft_seconds: int


work = st.builds(
    Work,
    artifacts=st.integers(0, 7),
    accepted=st.integers(0, 7),
    revised=st.integers(0, 3),
    tokens_per_artifact=st.integers(200, 20_000),
    edit_distance=st.floats(0, 0.9, allow_nan=False),
    first_draft_seconds=st.integers(20, 1_800),
)
person = st.tuples(
    st.lists(st.tuples(st.sampled_from(USE_CASES), work), min_size=1, max_size=4),
    st.sampled_from((None, None, *FLAG_STATUSES)),  # a flag in the scored week
)
orgs = st.lists(person, min_size=3, max_size=6)


def build(services, people) -> dict[str, int]:
    """Import the org and record its weeks; returns email -> person id."""
    rows = ["email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"]
    rows.append("boss@acme.test,Bo Boss,Leadership,,member;manager;admin,power-user,UBOSS,")
    for n, _ in enumerate(people):
        team = "Marketing" if n % 2 else "Sales"
        rows.append(f"p{n}@acme.test,{NAMES[n]} Person,{team},boss@acme.test,member,default,UP{n},")
    with services.db.unit_of_work() as uow:
        result = import_directory(
            uow.session, "\n".join(rows) + "\n", services.policy, services.clock()
        )
        assert result.ok, result.errors
        uow.commit()
    with services.db.read() as session:
        ids = {p.email: p.id for p in session.query(Person)}
    week = scored_week(services)
    events, outcomes = [], []
    for n, (works, flag) in enumerate(people):
        email = f"p{n}@acme.test"
        for slot, (use_case, w) in enumerate(works):
            back = slot % 3  # spread over the scored week and two before it
            start = week.start - timedelta(weeks=back) + timedelta(days=1, hours=slot)
            for k in range(w.artifacts):
                key = f"{n}-{slot}-{k}"
                at = (start + timedelta(minutes=k)).astimezone(UTC)
                events.append(
                    usage(email, w.tokens_per_artifact, at, use_case=use_case, id=f"u-{key}")
                )
                status = (
                    "accepted"
                    if k < w.accepted
                    else "revised"
                    if k < w.accepted + w.revised
                    else "rejected"
                )
                outcomes.append(
                    outcome(
                        f"o-{key}",
                        email,
                        at + timedelta(minutes=20),
                        status=status,
                        use_case=use_case,
                        usage_ids=(f"u-{key}",),
                        edit_distance=w.edit_distance if status != "rejected" else None,
                        first_draft_seconds=w.first_draft_seconds,
                    )
                )
        if flag is not None:
            add_flag(services, ids[email], SCORED_WEEK, flag)
    if events:
        add_usage(services, events)
    if outcomes:
        add_outcomes(services, outcomes)
    return ids


# --- reading numbers back: each shown number stands for an interval ---------------------------


def _half_unit(text: str) -> float:
    """Half a unit of the last digit shown."""
    return 0.5 * 10 ** -(len(text.split(".")[1])) if "." in text else 0.5


def interval(shown: str) -> tuple[float, float] | None:
    """The interval of values that display as `shown` (None for n/a), in the unit the index
    compares: rates as fractions, times in seconds, money in dollars, counts and tokens as is."""
    shown = shown.strip()
    if shown == "n/a":
        return None
    if shown.endswith("%"):
        v = float(shown[:-1]) / 100
        return v - 0.005, v + 0.005
    if shown.startswith("$"):
        number = shown[1:].replace(",", "")
        v, h = float(number), _half_unit(number)
        return v - h, v + h
    if shown.endswith(" tokens"):
        v = float(shown[: -len(" tokens")].replace(",", ""))
        return v - 0.5, v + 0.5
    if shown.endswith(" min"):
        v = float(shown[:-4])
        return (v - 0.5) * 60, (v + 0.5) * 60  # as seconds (speed); minutes saved: see below
    if shown.endswith(" s"):
        v = float(shown[:-2])
        return v - 0.5, v + 0.5
    number = shown.replace(",", "")
    v, h = float(number), _half_unit(number)
    if "." not in number and "e" not in number:
        h = 0.05  # counts are shown to 0.1 with trailing zeros dropped
    return v - h, v + h


def index_range(name: str, value: str, baseline: str, cap: float) -> tuple[float, float]:
    """The multiples that values displayed as `value` and `baseline` can give."""
    v, b = interval(value), interval(baseline)
    if v is None or b is None:
        return 1.0, 1.0
    if name == "savings":  # minutes saved: shown in minutes, compared in minutes
        v, b = (v[0] / 60, v[1] / 60), (b[0] / 60, b[1] / 60)
    higher = name in HIGHER_IS_BETTER
    corners = [
        index_against(max(x, 0.0), max(y, 0.0), higher, SMOOTHING[name], cap) for x in v for y in b
    ]
    return min(corners), max(corners)


def assert_multiple(name: str, value: str, baseline: str, shown: str, cap: float, line: str):
    low, high = index_range(name, value, baseline, cap)
    assert low - 0.0051 <= float(shown) <= high + 0.0051, (
        f"{line!r}: {value} vs {baseline} gives {low:.3f}..{high:.3f}, shown {shown}x"
    )


# --- the score reply ------------------------------------------------------------------------

LABELS = {
    "Accepted artifacts": "adoption",
    "Acceptance net of edits": "acceptance",
    "Revision burden (edit distance)": "revision",
    "Accepted output per 1k tokens": "efficiency",
    "Cost per accepted artifact": "cost",
    "Time to first draft": "speed",
    "Verified minutes saved": "savings",
    "Template reuse": "reuse",
}
LABEL = "|".join(re.escape(label) for label in LABELS)
COMPARED = (
    r"(?P<did>n/a|\S+(?: (?:tokens|min|s))?)(?: \((?P<a>[\d.]+) of (?P<b>\d+)\))?"
    r"(?:, counted as (?P<counted>\S+(?: (?:tokens|min|s))?),)? vs (?P<base>\S+(?: (?:min|s))?)"
)
SINGLE = re.compile(
    rf"^  (?P<label>{LABEL}) +{COMPARED}: (?P<index>[\d.]+)x the baseline "
    r"x weight (?P<weight>[\d.]+) = (?P<points>[\d.]+)$"
)
SEVERAL = re.compile(
    rf"^  (?P<label>{LABEL}) +(?P<index>[\d.]+)x the baseline \(the mean of the use cases' "
    r"multiples, weighted by their shares\) x weight (?P<weight>[\d.]+) = (?P<points>[\d.]+)$"
)
PART = re.compile(rf"^    (?P<use_case>\S+) \((?P<share>\d+)%\): {COMPARED}: (?P<index>[\d.]+)x$")
HEADER = re.compile(r"efficiency score for \S+ \([^)]*\): (?P<score>[\d.]+) points")
TOTAL = re.compile(r"^  Score +(?P<score>[\d.]+)$")
CAP = re.compile(r"and at most (?P<cap>[\d.]+)x\.")
PRIOR = re.compile(r"had also done (?P<prior>[\d.]+) tasks exactly at the baseline")
NOT_ELIGIBLE = ("Recognition needs", "needs at least", "governance flag", "not active")


def check_comparison(name: str, m: re.Match, cap: float, prior: float | None, line: str):
    counted = m["counted"] or m["did"]
    assert_multiple(name, counted, m["base"], m["index"], cap, line)
    if m["a"] is not None:  # "a of b" (a to 0.1): the rate shown, and what shrinkage counts
        a, b = (float(m["a"]) - 0.05, float(m["a"]) + 0.05), int(m["b"])
        did = interval(m["did"])
        assert did is not None and a[1] / b >= did[0] - 1e-9 and a[0] / b <= did[1] + 1e-9, line
        base, got = interval(m["base"]), interval(counted)
        if prior is not None and base is not None and got is not None:
            low = shrink(max(a[0], 0.0), b, base[0], prior)
            high = shrink(a[1], b, base[1], prior)
            assert low is not None and high is not None
            assert low - 0.0051 <= (got[0] + got[1]) / 2 <= high + 0.0051, line


def check_score(text: str) -> None:
    """Every number of one `score` reply, recomputed from the text."""
    header = HEADER.search(text)
    if header is None:
        assert "no scored work" in text, text
        return
    cap = float(CAP.search(text)["cap"])  # type: ignore[index]
    several_use_cases = None
    points = []
    lines = text.splitlines()
    total = None
    for n, line in enumerate(lines):
        if m := SINGLE.match(line):
            name = LABELS[m["label"]]
            prior = float(PRIOR.search(text)["prior"])  # type: ignore[index]
            check_comparison(name, m, cap, prior if name in ("acceptance", "reuse") else None, line)
            several_use_cases = False
        elif m := SEVERAL.match(line):
            name = LABELS[m["label"]]
            parts = []
            for part_line in lines[n + 1 :]:
                p = PART.match(part_line)
                if p is None:
                    break
                check_comparison(name, p, cap, None, part_line)
                parts.append((float(p["share"]) / 100, float(p["index"])))
            assert len(parts) >= 2, line
            low = sum((s - 0.005) * (i - 0.005) for s, i in parts)
            high = sum((s + 0.005) * (i + 0.005) for s, i in parts)
            assert low - 0.0051 <= float(m["index"]) <= high + 0.0051, line
            several_use_cases = True
        elif m := TOTAL.match(line):
            total = Decimal(m["score"])
            continue
        else:
            continue
        weight, index = Decimal(m["weight"]), Decimal(m["index"])
        assert Decimal(m["points"]) == (weight * index).quantize(Decimal("0.1")), line
        points.append(Decimal(m["points"]))
    assert len(points) == len(LABELS), text
    assert several_use_cases is not None
    assert total == Decimal(header["score"]) == sum(points), text


# --- the leaderboard ------------------------------------------------------------------------

RECOGNISED = re.compile(
    r"^  (?:Gold|Silver|Bronze): (?P<name>[^,(]+?)(?: \([^)]*\))?, (?P<reason>.*)$"
)
FIGURES = {
    "efficiency": re.compile(
        r"^(?P<did>[\d,]+ tokens|n/a) per accepted artifact(?: \(counted as (?P<counted>[\d,]+ "
        r"tokens|n/a)\))? against (?:a median of (?P<base>[\d,]+ tokens)|(?P<none>a median "
        r"with no accepted artifacts))$"
    ),
    # A baseline with nothing to compare (no edited results in the use case) shows n/a, and
    # the multiple is then 1.00x (neutral), as index_range expects.
    "acceptance": re.compile(
        r"^(?P<did>\d+%|n/a) accepted net of edits(?: \(counted as (?P<counted>\d+%|n/a)\))? "
        r"against (?P<base>\d+%|n/a)$"
    ),
    "revision": re.compile(
        r"^(?P<did>\d+%|n/a) edited(?: \(counted as (?P<counted>\d+%|n/a)\))? "
        r"against (?P<base>\d+%|n/a)$"
    ),
}
FIGURE_LINE = re.compile(
    r"^(?:(?P<use_case>[\w-]+)(?: \((?P<share>\d+)% of their work\))?: )?(?P<figure>.*?)"
    r"(?: \((?P<index>[\d.]+)x\))?$"
)
STANDING = re.compile(
    r"^  \d+\. (?P<team>.+?): (?P<mean>[\d.]+)x(?: the baseline)?, the mean of (?P<people>\d+) "
    r"eligible people's multiples \((?P<multiples>[\d.]+x(?:, [\d.]+x)*)\)$"
)
OVERALL = re.compile(r" \((?:(?P<how>[^:()]+): )?(?P<value>[\d.]+)x the baseline\)$")


def check_reason(reason: str, cap: float) -> None:
    """An index measure's line: each figure's multiple from its numbers, then the overall."""
    overall = OVERALL.search(reason)
    if overall is None:  # counts (workflow builder, verified minutes) or the score: as is
        return
    figures = reason[: overall.start()].split("; ")
    found: dict[str, list[tuple[float, float]]] = {}
    for text in figures:
        m = FIGURE_LINE.match(text)
        assert m is not None, reason
        name, f = None, None
        for candidate, regex in FIGURES.items():
            if (f := regex.match(m["figure"])) is not None:
                name = candidate
                break
        assert name is not None and f is not None, f"unparsed figure {m['figure']!r} in {reason!r}"
        shown = m["index"] or overall["value"]
        if name == "efficiency" and f["none"]:  # nothing accepted in the baseline: the cap
            counted = interval(f["counted"] or f["did"])
            assert counted is not None and float(shown) == cap, reason
        elif name == "efficiency":  # tokens per accepted: the multiple is baseline / counted
            counted = interval(f["counted"] or f["did"])
            base = interval(f["base"])
            assert counted is not None and base is not None
            low = min(cap, base[0] / counted[1])
            high = min(cap, base[1] / counted[0])
            assert low - 0.0051 <= float(shown) <= high + 0.0051, reason
        else:
            assert_multiple(name, f["counted"] or f["did"], f["base"], shown, cap, reason)
        share = float(m["share"]) / 100 if m["share"] else 1.0
        found.setdefault(name, []).append((share, float(shown)))
    means = []
    for parts in found.values():
        low = sum((s - 0.005 * (s < 1)) * (i - 0.005) for s, i in parts)
        high = sum((s + 0.005 * (s < 1)) * (i + 0.005) for s, i in parts)
        means.append((low, high))
    low = sum(lo for lo, _ in means) / len(means)
    high = sum(hi for _, hi in means) / len(means)
    assert low - 0.0101 <= float(overall["value"]) <= high + 0.0101, reason


@pytest.fixture
def dispatcher(services):
    return Dispatcher(services)


# Found by hypothesis on PostgreSQL: nobody edited anything in coding, so its revision
# baseline is n/a and the multiple 1.00x.
NO_EDITS_IN_THE_BASELINE = [
    ([("seo-brief", Work(0, 0, 0, 200, 0.0, 20))], None),
    ([("seo-brief", Work(0, 0, 0, 200, 0.0, 20)), ("coding", Work(7, 0, 0, 200, 0.0, 20))], None),
    (
        [
            ("seo-brief", Work(1, 0, 0, 200, 0.0, 20)),
            ("seo-brief", Work(0, 0, 0, 200, 0.0, 20)),
            ("seo-brief", Work(0, 0, 0, 200, 0.0, 20)),
            ("coding", Work(4, 0, 1, 200, 0.0, 20)),
        ],
        None,
    ),
]


# Six people with enough work, three in each team: the team standings have teams to show.
BUSY_ORG = [
    ([("seo-brief", Work(7, 6 - n % 3, 1, 1_000 + 700 * n, 0.1 * (n % 4), 300))], None)
    for n in range(6)
]


@EXAMPLES
@example(people=BUSY_ORG)
@example(people=NO_EDITS_IN_THE_BASELINE)
@given(people=orgs)
def test_every_number_in_score_and_leaderboard_recomputes_from_the_text(
    services, dispatcher, clean_database, people
):
    empty_all_tables(clean_database)
    ids = build(services, people)
    cap = float(scoring_settings(services.policy).index_cap)

    def say(text: str) -> str:
        reply = dispatcher.handle_message(IncomingMessage("console", "boss@acme.test", text))
        return services.renderer.text(reply)

    scores = {}
    for n, (_works, _flag) in enumerate(people):
        text = say(f"score p{n}@acme.test")
        check_score(text)
        scores[f"{NAMES[n]} Person"] = text
        # the App Home shows the same score and the same reason to be left out
        with services.db.read() as session:
            member = session.get(Person, ids[f"p{n}@acme.test"])
        home = dashboard_reply(services, member).context["score"]
        header = HEADER.search(text)
        assert home["score"] == (header["score"] if header else None), text
        if header is not None:  # (with no scored work, neither screen speaks of flags)
            assert home["flagged"] == ("governance flag" in text)
    with services.db.unit_of_work() as uow:
        posts = spotlight_content(
            uow.session, services.policy, scored_week(services).start.date(), services.clock()
        )
    screens = [say("leaderboard"), *(services.renderer.text(notice.reply) for _k, notice in posts)]
    assert posts  # the org-wide post at least
    for screen in screens:
        named = set()
        for line in screen.splitlines():
            if m := RECOGNISED.match(line):
                named.add(m["name"])
                check_reason(m["reason"], cap)
        standings = [m for line in screen.splitlines() if (m := STANDING.match(line))]
        if "Teams by accepted output" in screen or "Most efficient teams" in screen:
            assert standings, screen
        efficiency_multiples = sorted(
            float(m["index"])
            for text in scores.values()
            for line in text.splitlines()
            if (m := SINGLE.match(line) or SEVERAL.match(line))
            and m["label"] == "Accepted output per 1k tokens"
        )
        for m in standings:  # a team's multiple: the mean of the multiples it lists
            multiples = [float(x[:-1]) for x in m["multiples"].split(", ")]
            assert len(multiples) == int(m["people"]), m.string
            mean = sum(multiples) / len(multiples)
            assert abs(float(m["mean"]) - mean) <= 0.0101, m.string
            for x in multiples:  # each is a person's efficiency multiple in their `score`
                assert any(abs(x - y) < 0.0051 for y in efficiency_multiples), m.string
        for name in named:  # the one eligibility rule: nobody named is told they are not
            score_text = scores[name]
            assert not any(words in score_text for words in NOT_ELIGIBLE), (name, score_text)
        for n, (_works, flag) in enumerate(people):
            if flag not in (None, "cleared"):
                assert f"{NAMES[n]} Person" not in screen


# --- balance and team: every line adds up ---------------------------------------------------

POOL_LINE = re.compile(
    r"^  (?P<label>.+?) +(?P<left>[\d,]+) of (?P<amount>[\d,]+) left, until .+?(?P<shared> \(shared\))?$"
)
PERSONAL = re.compile(
    r"^Personal: (?P<left>[\d,]+) of (?P<total>[\d,]+) left; (?P<used>[\d,]+) used\.$"
)
USED = re.compile(
    r"^Used this period: (?P<used>[\d,]+) tokens \(\$[\d,.]+\)(?:: (?P<parts>.*))?\.$"
)
PART_OF_USE = re.compile(r"^(?P<n>[\d,]+) (?P<what>.+)$")
BURN = re.compile(
    r"^Burn rate: (?P<all>[\d,]+) tokens/day in all, (?P<own>[\d,]+) of them from (?:your|their) "
    r"own allotments \((?P<own_used>[\d,]+) tokens over (?P<days>[\d.]+) days\)\. (?P<outlook>.*)$"
)
RUNS_OUT = re.compile(
    r"^At this pace (?:your|their) personal balance runs out on (?P<on>.+?), "
    r"(?P<when>before|after) the period ends on (?P<end>.+?)\.$"
)
LASTS = re.compile(
    r"^At this pace (?:your|their) personal balance lasts past the period's end on (?P<end>.+?)\.$"
)
TEAM_LINE = re.compile(
    r"^  (?P<name>\S+ Person) +(?P<left>[\d,]+) of (?P<total>[\d,]+) left; (?P<used>[\d,]+) used, "
    r"(?P<own>[\d,]+) tokens/day from their own allotments(?:, runs out on (?P<on>.+?) "
    r"before the period ends)?(?:, overdraft (?P<overdraft>[\d,]+))?$"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


def check_balance(text: str, now, zone: str) -> dict[str, str]:
    """Every number of one `balance` reply, recomputed from the text; returns the personal
    figures for the `team` line to be compared with."""
    from message_templates import format_day

    lines = text.splitlines()
    own_left = own_amount = 0
    for line in lines:
        if (m := POOL_LINE.match(line)) and not m["shared"]:
            own_left += number(m["left"])
            own_amount += number(m["amount"])
    personal = next(m for line in lines if (m := PERSONAL.match(line)))
    left, total, used_own = (number(personal[k]) for k in ("left", "total", "used"))
    assert (left, total) == (own_left, own_amount), text
    assert left + used_own == total, text
    used = next(m for line in lines if (m := USED.match(line)))
    parts = {}
    for part in (used["parts"] or "").split(", ") if used["parts"] else []:
        p = PART_OF_USE.match(part)
        assert p is not None, part
        parts[p["what"]] = number(p["n"])
    assert sum(parts.values()) == number(used["used"]), text
    # what the personal line says was used is what the used line says came from the own
    # allotments active now
    own_now = next((n for what, n in parts.items() if what.endswith("own allotments")), 0)
    assert own_now == used_own, text
    burn = next(m for line in lines if (m := BURN.match(line)))
    days = float(burn["days"])
    own_drawn = sum(n for what, n in parts.items() if "own allotments" in what)
    assert number(burn["own_used"]) == own_drawn, text
    for rate, drawn in ((burn["all"], number(used["used"])), (burn["own"], own_drawn)):
        assert abs(number(rate) - drawn / days) <= 1 + drawn / days * 0.05 / days + 1, text
    figures = {"left": personal["left"], "total": personal["total"], "used": personal["used"]}
    figures["own"] = burn["own"]
    if m := RUNS_OUT.match(burn["outlook"]):
        own_rate = number(burn["own"])
        assert own_rate > 0, text
        # the date: the personal balance at the own pace (rates shown to the token)
        days_left = left / own_rate
        low = format_day(now + timedelta(days=left / (own_rate + 1)), zone)
        high = format_day(now + timedelta(days=days_left), zone)
        assert m["on"] in (low, high), (m["on"], low, high, text)
        assert m["when"] == "before", text  # a date after the end is said with "lasts past"
        figures["on"] = m["on"]
    else:
        assert LASTS.match(burn["outlook"]) is not None, text
        assert own_drawn == 0 or number(burn["own"]) == 0 or left / number(burn["own"]) > 0
    return figures


@EXAMPLES
@given(
    people=orgs,
    draws=st.lists(
        st.tuples(st.integers(0, 3_000_000), st.integers(0, 40_000)), min_size=6, max_size=6
    ),
)
def test_every_number_in_balance_and_team_adds_up_from_the_text(
    services, dispatcher, clean_database, people, draws
):
    """`balance` for everyone: the personal line adds up, the used line's parts add up to what
    was used (own allotments, the reserved pool of a use case, the overdraft), the burn rates
    are the used tokens over the days shown, the run-out date follows from them and is said
    against the period's end; each `team` line shows the figures of that person's `balance`."""
    empty_all_tables(clean_database)
    ids = build(services, people)
    now = services.clock()
    events = []
    for n, (own, reserved) in enumerate(draws[: len(people)]):
        at = now - timedelta(hours=n + 1)
        if own:
            events.append(usage(f"p{n}@acme.test", own, at, use_case="coding", id=f"own-{n}"))
        if reserved:
            events.append(
                usage(f"p{n}@acme.test", reserved, at, use_case="security-review", id=f"res-{n}")
            )
    if events:
        add_usage(services, events)
    assert ids

    def say(text: str) -> str:
        reply = dispatcher.handle_message(IncomingMessage("console", "boss@acme.test", text))
        return services.renderer.text(reply)

    zone = services.policy.periods.timezone
    figures = {}
    for n in range(len(people)):
        figures[f"{NAMES[n]} Person"] = check_balance(say(f"balance p{n}@acme.test"), now, zone)
    team = say("team")
    shown = set()
    for line in team.splitlines():
        if m := TEAM_LINE.match(line):
            mine = figures[m["name"]]
            for key in ("left", "total", "used", "own"):
                assert m[key] == mine[key], (line, mine)
            assert m["on"] == mine.get("on"), (line, mine)
            shown.add(m["name"])
    assert shown == set(figures), team
