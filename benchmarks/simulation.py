"""How well the gaming detectors work, measured on a synthetic org where the truth is known.

`simulate` builds an org of `people` synthetic people in a fresh temporary SQLite database,
through the real services (directory import, `record_usage`, `record_outcomes`), and has them
work for `weeks` weeks. A known share games, each in one way (`GAMING_SHARE` per detector); the
rest work honestly with realistic variance, including the honest habits each detector could
mistake for gaming: heavy-context use cases and people, long conversations that do produce
something, retries of the same prompt, answers to the same FAQ, quick batches of small but
complete tasks, light and heavy users. After each week the real detectors run (as the daily job
would, once the week has settled) and the weekly recognition is computed with the flags in
place.

Reported per detector: recall on the gamers of its kind (flagged in any week) and the
false-positive rate on honest people (flagged in any week); and whether any gamer reached a
recognition tier. The detectors never see the labels: thresholds come from the policy.
The generator is deterministic for a seed. A measuring tool, not a part of the domain (it
builds its own database), so it lives beside the benchmarks; `tokenbot simulate` runs it.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.core.presenters.flags import explain
from budgets.directory import import_directory
from budgets.ledger import ensure_period_grants, record_usage
from budgets.periods import period_for
from budgets.policy import Policy, load_policy
from budgets.windows import Window, week_starting
from ingest.events import OutcomeEvent, UsageEvent
from ingest.store import record_outcomes
from scoring.categories import recognise
from scoring.flags import run_detectors
from scoring.governance import MISCONDUCT
from scoring.score import build_scoreboard
from storage.database import Database
from storage.models import Base, Flag, Person

# Recall goals per volume band (the light band's evidence is thinnest), false positives in all.
GOALS = {"recall": 0.90, "light_recall": 0.70, "false_positives": 0.02}
GAMING_SHARE = 0.06  # of the org, for each misconduct detector, split evenly over the bands
# Tasks a week: people game (or work honestly) at every volume.
BANDS: dict[str, tuple[float, float]] = {
    "light": (3.0, 5.0),
    "ordinary": (5.0, 10.0),
    "heavy": (20.0, 40.0),
}
# The honest habits a detector could mistake for gaming; honest people in every band have one
# of these (or none) in turn, so each band has look-alikes of every kind.
LOOKALIKES = ("heavy_context", "long_session", "retrier", "faq", "batcher", None)
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
DOMAIN = "sim.example"
MODEL = "gpt-4o"
BATCH_PEOPLE = 20

# Per use case: typical input and output tokens of one turn, and turns per task.
USE_CASES: dict[str, tuple[int, int, float]] = {
    "seo-brief": (2_400, 1_600, 2.0),
    "ad-copy": (900, 450, 2.5),
    "coding": (5_000, 1_100, 3.0),
    "support-reply": (1_300, 420, 1.6),
    "data-analysis": (7_000, 2_200, 2.5),
    "security-review": (9_000, 2_600, 2.0),
}
TEAM_NAMES = ("Marketing", "Growth", "Platform", "Apps", "Support", "Analytics", "Security")
TEAM_USE_CASES = {
    "Marketing": ("seo-brief", "ad-copy"),
    "Growth": ("ad-copy", "data-analysis"),
    "Platform": ("coding", "security-review"),
    "Apps": ("coding", "data-analysis"),
    "Support": ("support-reply", "ad-copy"),
    "Analytics": ("data-analysis", "coding"),
    "Security": ("security-review", "coding"),
}


# --- people ----------------------------------------------------------------------------------


@dataclass
class Profile:
    email: str
    team: str
    label: str  # the detector they game, or "honest"
    band: str  # light, ordinary or heavy (BANDS)
    use_cases: tuple[str, ...]
    tasks_per_week: float
    efficiency: float  # multiplies tokens per turn (heavy-context people have more)
    acceptance: float
    batcher: bool = False  # works through small complete tasks minutes apart
    faq: bool = False  # answers the same questions again (near-identical outputs)
    gaming: float = 1.0  # how strongly they game (detector-specific scale)
    creeper: bool = False  # context inflation that grows week by week
    lookalike: str | None = None  # the honest habit they have (LOOKALIKES)
    retries: float = 0.12  # share of turns that resend the previous prompt
    start: int = 0  # the week (from 0) they begin to game; honest before
    person_id: int = 0

    @property
    def is_gamer(self) -> bool:
        return self.label in MISCONDUCT


def _lognormal(rng: random.Random, sigma: float) -> float:
    return math.exp(rng.gauss(0, sigma))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build_profiles(rng: random.Random, people: int, weeks: int) -> list[Profile]:
    """`people` profiles: for each misconduct detector GAMING_SHARE of them game its way, as
    many in each volume band; the rest are honest, a third in each band, with the look-alike
    habits in turn."""
    per_band = max(1, round(people * GAMING_SHARE / len(BANDS)))
    slots = [(kind, band) for kind in MISCONDUCT for band in BANDS for _ in range(per_band)]
    honest = max(0, people - len(slots))
    bands = list(BANDS)
    slots += [("honest", bands[i % len(bands)]) for i in range(honest)]
    slots = slots[:people]
    rng.shuffle(slots)
    profiles = []
    seen: dict[str, int] = defaultdict(int)
    for i, (label, band) in enumerate(slots):
        team = TEAM_NAMES[i % len(TEAM_NAMES)]
        main, second = TEAM_USE_CASES[team]
        use_cases = (main, second) if rng.random() < 0.35 else (main,)
        low, high = BANDS[band]
        profile = Profile(
            email=f"p{i:04d}@{DOMAIN}",
            team=team,
            label=label,
            band=band,
            use_cases=use_cases,
            tasks_per_week=rng.uniform(low, high),
            efficiency=min(max(_lognormal(rng, 0.28), 0.45), 2.2),
            acceptance=min(max(rng.betavariate(7, 3), 0.3), 0.97),
            batcher=(main in ("support-reply", "ad-copy") and rng.random() < 0.4)
            or rng.random() < 0.05,
            faq=main == "support-reply" and rng.random() < 0.5,
        )
        if label == "honest":
            profile.lookalike = LOOKALIKES[seen[band] % len(LOOKALIKES)]
            seen[band] += 1
            if profile.lookalike == "heavy_context":
                profile.efficiency = rng.uniform(1.5, 2.0)
            elif profile.lookalike == "retrier":
                profile.retries = rng.uniform(0.25, 0.4)
            elif profile.lookalike == "faq":
                profile.faq = True
            elif profile.lookalike == "batcher":
                profile.batcher = True
        if profile.is_gamer:
            profile.start = rng.randrange(min(3, weeks))
        tasks = profile.tasks_per_week
        if label == "context_inflation":
            profile.creeper = rng.random() < 0.3
            profile.gaming = rng.uniform(3.0, 6.0)  # times the use case's usual context
        elif label == "chat_loops":  # fruitless long conversations a week: a couple, or more
            profile.gaming = (
                rng.uniform(2, 3.5) if band != "heavy" else tasks * rng.uniform(0.15, 0.3)
            )
        elif label == "output_spam":  # near-copies submitted a week
            profile.gaming = rng.uniform(3, 6) if band != "heavy" else tasks * rng.uniform(0.3, 0.6)
        elif label == "prompt_spam":  # the same prompt resent a week
            profile.gaming = tasks * rng.uniform(1.5, 3.0)
        elif label == "task_splitting":
            profile.gaming = rng.uniform(0.5, 1.0)  # share of tasks split into pieces
        profiles.append(profile)
    return profiles


def directory_csv(profiles: list[Profile]) -> str:
    """The org as a directory CSV: a leader, one manager per team (honest), and everyone."""
    lines = ["email,name,team,manager_email,roles,tier,slack_user_id,teams_user_id"]
    lines.append(f"lead@{DOMAIN},Lee Lead,Leadership,,member;manager;admin,default,,")
    lines.append(f"finance@{DOMAIN},Fay Finance,Finance,lead@{DOMAIN},member;finance,default,,")
    for team in TEAM_NAMES:
        slug = team.lower()
        lines.append(
            f"{slug}-lead@{DOMAIN},{team} Lead,{team},lead@{DOMAIN},member;manager,default,,"
        )
    for p in profiles:
        tier = "power-user" if p.band == "heavy" else "default"
        name = p.email.split("@")[0].upper()
        lines.append(f"{p.email},{name},{p.team},{p.team.lower()}-lead@{DOMAIN},member,{tier},,")
    return "\n".join(lines) + "\n"


# --- a week of work --------------------------------------------------------------------------


@dataclass
class Week:
    usage: list[UsageEvent] = field(default_factory=list)
    outcomes: list[OutcomeEvent] = field(default_factory=list)


class Generator:
    """Makes one person's usage and outcomes for one week (deterministic given the rng)."""

    def __init__(self, rng: random.Random, week_start: datetime, week_index: int):
        self.rng = rng
        self.start = week_start
        self.index = week_index
        self.out = Week()
        self.counter = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.index}-{self.counter}-{self.rng.getrandbits(32):08x}"

    def _fingerprint(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _near(self, fingerprint: str, flips: int) -> str:
        """A near-copy: `flips` random bits changed (1-3 words changed in a 150-word text move
        simhash64 by 1 to 14 bits, median 7)."""
        value = int(fingerprint, 16)
        for bit in self.rng.sample(range(64), flips):
            value ^= 1 << bit
        return f"{value:016x}"

    def _moment(self) -> datetime:
        day = self.rng.randrange(5)
        seconds = self.rng.uniform(9 * 3600, 17 * 3600)
        return self.start + timedelta(days=day, seconds=seconds)

    def usage(
        self,
        p: Profile,
        use_case: str,
        at: datetime,
        inp: float,
        out: float,
        conv: str | None,
        fp: str,
    ) -> str:
        event_id = self._id("u")
        self.out.usage.append(
            UsageEvent(
                id=event_id,
                user=p.email,
                model=MODEL,
                input_tokens=max(int(inp), 1),
                output_tokens=max(int(out), 1),
                cached_input_tokens=0,
                use_case=use_case,
                project=None,
                template_id=None,
                conversation_id=conv,
                timestamp=at,
                prompt_fingerprint=fp,
            )
        )
        return event_id

    def outcome(
        self,
        p: Profile,
        use_case: str,
        at: datetime,
        status: str,
        usage_ids: tuple[str, ...],
        conv: str | None,
        fingerprint: str,
    ) -> None:
        self.out.outcomes.append(
            OutcomeEvent(
                id=self._id("o"),
                user=p.email,
                artifact_id=self._id("a"),
                use_case=use_case,
                status=status,  # type: ignore[arg-type]
                usage_ids=usage_ids,
                conversation_id=conv,
                edit_distance=round(self.rng.uniform(0.05, 0.4), 3)
                if status == "revised"
                else None,
                minutes_saved=self.rng.randint(5, 60) if status != "rejected" else None,
                first_draft_seconds=self.rng.randint(20, 600),
                template_id=None,
                timestamp=at,
                content_fingerprint=fingerprint,
            )
        )

    def _status(self, acceptance: float) -> str:
        roll = self.rng.random()
        if roll < acceptance * 0.7:
            return "accepted"
        if roll < acceptance:
            return "revised"
        return "rejected"

    def _artifact_fingerprint(self, p: Profile) -> str:
        if p.faq and self.rng.random() < 0.12:  # the same answer to a frequent question
            answer = FAQ_ANSWERS[self.rng.randrange(len(FAQ_ANSWERS))]
            return self._near(answer, self.rng.randint(1, 12))
        return self._fingerprint()

    def task(
        self,
        p: Profile,
        use_case: str,
        at: datetime,
        *,
        inflate: float = 1.0,
        turns: int | None = None,
        ends_in_nothing: bool = False,
    ) -> datetime:
        """One task: a conversation of turns whose context grows, then (usually) one outcome.
        Returns when it ended."""
        base_in, base_out, turns_mean = USE_CASES[use_case]
        rng = self.rng
        if turns is None:
            turns = 1 + _poisson(rng, turns_mean - 1)
            if rng.random() < 0.03:  # an honest long working session
                turns = rng.randint(12, 22)
        conv = self._id("c")
        size = _lognormal(rng, 0.35)
        ids = []
        prompt = self._fingerprint()
        for turn in range(turns):
            if not turn or rng.random() >= p.retries:  # else a retry: the same prompt again
                prompt = self._fingerprint()
            growth = 1 + 0.25 * min(turn, 8)
            inp = base_in * p.efficiency * size * growth * inflate * _lognormal(rng, 0.2)
            out = base_out * size * _lognormal(rng, 0.25)
            ids.append(self.usage(p, use_case, at, inp, out, conv, prompt))
            at += timedelta(seconds=rng.uniform(40, 240))
        if ends_in_nothing:
            if rng.random() < 0.5:  # a result nobody takes
                self.outcome(p, use_case, at, "rejected", (ids[-1],), conv, self._fingerprint())
            return at
        if rng.random() >= (0.85 if turns > 10 else 0.93):
            return at  # abandoned
        status = self._status(p.acceptance * (0.9 if turns > 10 else 1.0))
        self.outcome(p, use_case, at, status, (ids[-1],), conv, self._artifact_fingerprint(p))
        return at

    def split_task(self, p: Profile, use_case: str, at: datetime, pieces: int) -> datetime:
        """One normal task's work cut into `pieces` artifacts sent minutes apart: each piece a
        call of a fraction of the task's tokens (all of them together ~1.2 tasks)."""
        base_in, base_out, turns_mean = USE_CASES[use_case]
        rng = self.rng
        size = _lognormal(rng, 0.35) * turns_mean * 1.2 / pieces
        for _ in range(pieces):
            conv = self._id("c")
            inp = base_in * p.efficiency * size * _lognormal(rng, 0.2)
            out = base_out * size * _lognormal(rng, 0.25)
            usage_id = self.usage(p, use_case, at, inp, out, conv, self._fingerprint())
            at += timedelta(seconds=rng.uniform(20, 90))
            status = self._status(min(p.acceptance + 0.1, 0.98))
            self.outcome(p, use_case, at, status, (usage_id,), conv, self._fingerprint())
            at += timedelta(seconds=rng.uniform(20, 150))
        return at

    def honest_week(self, p: Profile, inflate: float = 1.0, split_share: float = 0.0) -> None:
        """The week's real work; batchers go through several tasks minutes apart, and people
        with long sessions have one most weeks (a debugging session, say) that half the time
        ends with nothing accepted."""
        rng = self.rng
        if p.band != "heavy" and rng.random() < 0.06:  # a week off
            return
        remaining = _poisson(rng, p.tasks_per_week)
        if p.lookalike == "long_session" and remaining and rng.random() < 0.6:
            remaining -= 1
            turns = rng.randint(15, 30)
            self.task(
                p, p.use_cases[0], self._moment(), turns=turns, ends_in_nothing=rng.random() < 0.5
            )
        while remaining > 0:
            at = self._moment()
            batch = rng.randint(3, 6) if p.batcher and rng.random() < 0.5 else 1
            for _ in range(min(batch, remaining)):
                remaining -= 1
                main = len(p.use_cases) == 1 or rng.random() < 0.7
                use_case = p.use_cases[0] if main else p.use_cases[1]
                if split_share and rng.random() < split_share:
                    at = self.split_task(p, use_case, at, rng.randint(3, 6))
                else:
                    at = self.task(p, use_case, at, inflate=inflate)
                at += timedelta(seconds=rng.uniform(20, 120))

    # -- the ways of gaming --

    def _count(self, mean: float) -> int:
        """`mean` rounded at random: floor(mean), or one more with the fraction's chance."""
        whole = math.floor(mean)
        return whole + (1 if self.rng.random() < mean - whole else 0)

    def week_for(self, p: Profile) -> None:
        rng = self.rng
        if self.index < p.start:
            self.honest_week(p)
        elif p.label == "context_inflation":
            # Several times the use case's usual context in every task; creepers from their own
            # level, by 30% a week, starting where three weeks of it would have taken them.
            weeks = self.index - p.start + 3
            inflate = 1.3**weeks if p.creeper else p.gaming / p.efficiency
            self.honest_week(p, inflate=inflate)
        elif p.label == "task_splitting":
            self.honest_week(p, split_share=p.gaming)
        else:
            self.honest_week(p)
        use_case = p.use_cases[0]
        if self.index < p.start:
            return
        if p.label == "chat_loops":
            for _ in range(self._count(p.gaming)):
                turns = rng.randint(14, 35)
                self.task(p, use_case, self._moment(), turns=turns, ends_in_nothing=True)
        elif p.label == "output_spam":
            base = self._fingerprint()
            for _ in range(max(2, self._count(p.gaming))):
                if rng.random() < 0.15:
                    base = self._fingerprint()  # something else copied from now on
                at = self._moment()
                usage_id = self.usage(p, use_case, at, 300, 200, None, self._fingerprint())
                copy = self._near(base, rng.randint(0, 8))
                self.outcome(p, use_case, at, "accepted", (usage_id,), None, copy)
        elif p.label == "prompt_spam":
            prompt = self._fingerprint()
            base_in, base_out, _ = USE_CASES[use_case]
            for _ in range(self._count(p.gaming)):
                self.usage(p, use_case, self._moment(), base_in / 2, base_out / 2, None, prompt)


FAQ_ANSWERS = tuple(f"{random.Random(n).getrandbits(64):016x}" for n in range(4))


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorQuality:
    """One detector in one volume band: its gamers there, and the honest people there."""

    detector: str
    band: str
    gamers: int  # people in the band who game this way
    caught: int
    honest: int  # honest people in the band, whom it should leave alone
    false_positives: int

    @property
    def recall(self) -> float:
        return self.caught / self.gamers if self.gamers else 1.0

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.honest if self.honest else 0.0

    @property
    def recall_goal(self) -> float:
        return GOALS["light_recall"] if self.band == "light" else GOALS["recall"]

    @property
    def meets_goals(self) -> bool:
        return (
            self.recall >= self.recall_goal and self.false_positive_rate <= GOALS["false_positives"]
        )


@dataclass(frozen=True)
class BandFalsePositives:
    """Honest people of a band flagged by any detector."""

    band: str
    honest: int
    flagged: int

    @property
    def rate(self) -> float:
        return self.flagged / self.honest if self.honest else 0.0


@dataclass(frozen=True)
class RecognisedGamer:
    email: str
    way: str  # the detector they game
    weeks: tuple[str, ...]  # the weeks they reached a tier
    flagged: tuple[str, ...] = ()  # the weeks they were flagged for, by any detector


@dataclass(frozen=True)
class SimulationReport:
    seed: int
    people: int
    weeks: int
    rows: tuple[DetectorQuality, ...]  # per detector and band, in MISCONDUCT and BANDS order
    bands: tuple[BandFalsePositives, ...]
    gamers: int
    # Gamers who reached a recognition tier in a week they gamed.
    recognised_gamers: tuple[RecognisedGamer, ...]
    recognitions: int  # people recognised, week by week, in all

    @property
    def meets_goals(self) -> bool:
        return not self.recognised_gamers and all(r.meets_goals for r in self.rows)


def simulate(
    seed: int = 7,
    people: int = 500,
    weeks: int = 6,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Run the synthetic org for `weeks` weeks in a temporary database and measure."""
    policy = policy or load_policy()
    rng = random.Random(seed)
    profiles = build_profiles(rng, people, weeks)
    say = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="tokenbot-sim-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'simulation.db'}")
        # The models' schema, which tests/integration/test_migrations.py holds equal to the
        # migrations' (create_all is a second faster than running them).
        Base.metadata.create_all(db.engine)
        try:
            return _run(db, policy, rng, profiles, seed, weeks, say)
        finally:
            db.dispose()


def _run(
    db: Database,
    policy: Policy,
    rng: random.Random,
    profiles: list[Profile],
    seed: int,
    weeks: int,
    say: Callable[[str], None],
) -> SimulationReport:
    zone = policy.periods.zone
    with db.unit_of_work() as uow:
        result = import_directory(uow.session, directory_csv(profiles), policy, START)
        if not result.ok:
            raise RuntimeError(f"the synthetic directory did not import: {result.errors[:3]}")
        uow.commit()
    with db.read() as session:
        ids = dict(session.execute(select(Person.email, Person.id)).all())
    for p in profiles:
        p.person_id = ids[p.email]
    recognised: dict[int, list[str]] = defaultdict(list)
    recognitions = 0
    for index in range(weeks):
        week = week_starting(zone, (START + timedelta(weeks=index)).date())
        generator = Generator(rng, week.start, index)
        for p in profiles:
            generator.week_for(p)
        now = week.end + timedelta(hours=25)
        with db.unit_of_work() as uow:
            for moment in (week.start, week.end - timedelta(seconds=1)):
                ensure_period_grants(uow.session, policy, period_for(policy.periods, moment), now)
            for batch in _by_people(generator.out.usage, BATCH_PEOPLE):
                record_usage(uow.session, batch, policy, now)
            record_outcomes(uow.session, generator.out.outcomes, now)
            uow.commit()
        with db.unit_of_work() as uow:
            run_detectors(uow.session, policy, week.start.astimezone(zone).date(), now, explain)
            uow.commit()
        # The spotlight ranks a week once the week after it is judged too (the first week has
        # no baseline weeks to be scored against; the last is ranked after the run's end).
        if index >= 2:
            ranked = week_starting(zone, (START + timedelta(weeks=index - 1)).date())
            named = _recognised(db, policy, ranked, now)
            recognitions += len(named)
            gaming = {p.person_id for p in profiles if p.is_gamer and index - 1 >= p.start}
            for pid in named & gaming:
                recognised[pid].append(ranked.key)
        say(
            f"week {week.key}: {len(generator.out.usage):,} calls, "
            f"{len(generator.out.outcomes):,} outcomes"
        )
    with db.read() as session:
        flagged: dict[str, set[int]] = defaultdict(set)
        flag_weeks: dict[int, set[str]] = defaultdict(set)
        for pid, detector, flag_week in session.execute(
            select(Flag.person_id, Flag.detector, Flag.week)
        ):
            flagged[detector].add(pid)
            flag_weeks[pid].add(flag_week)
    rows = [_quality(d, band, profiles, flagged[d]) for d in MISCONDUCT for band in BANDS]
    anyone = set().union(*flagged.values()) if flagged else set()
    gamers = [p for p in profiles if p.is_gamer]
    return SimulationReport(
        seed=seed,
        people=len(profiles),
        weeks=weeks,
        rows=tuple(rows),
        bands=tuple(
            BandFalsePositives(
                band,
                sum(1 for p in profiles if p.band == band and not p.is_gamer),
                sum(
                    1
                    for p in profiles
                    if p.band == band and not p.is_gamer and p.person_id in anyone
                ),
            )
            for band in BANDS
        ),
        gamers=len(gamers),
        recognised_gamers=tuple(
            RecognisedGamer(
                p.email,
                p.label,
                tuple(recognised[p.person_id]),
                tuple(sorted(flag_weeks[p.person_id])),
            )
            for p in gamers
            if recognised.get(p.person_id)
        ),
        recognitions=recognitions,
    )


def _by_people(events: list[UsageEvent], size: int) -> list[list[UsageEvent]]:
    """Batches of the events of `size` people each, as a gateway would send them (a batch's
    draw-down looks at the grants of the people in it)."""
    by_user: dict[str, list[UsageEvent]] = defaultdict(list)
    for event in events:
        by_user[event.user].append(event)
    users = sorted(by_user)
    return [
        [e for user in users[start : start + size] for e in by_user[user]]
        for start in range(0, len(users), size)
    ]


def _recognised(db: Database, policy: Policy, week: Window, now: datetime) -> set[int]:
    with db.unit_of_work() as uow:
        board = build_scoreboard(uow.session, policy, week, now, store=True)
        uow.commit()
    return {r.person_id for result in recognise(board) for r in result.recognised}


def _quality(
    detector: str, band: str, profiles: list[Profile], flagged: set[int]
) -> DetectorQuality:
    kind = [p for p in profiles if p.label == detector and p.band == band]
    honest = [p for p in profiles if not p.is_gamer and p.band == band]
    return DetectorQuality(
        detector=detector,
        band=band,
        gamers=len(kind),
        caught=sum(1 for p in kind if p.person_id in flagged),
        honest=len(honest),
        false_positives=sum(1 for p in honest if p.person_id in flagged),
    )
