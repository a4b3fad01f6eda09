"""Approved prompt templates: registering them, and what they are worth.

Templates live in the `prompt_templates` table, registered with `tokenbot templates add`
(`register_template`); usage events and outcomes name them by `template_id`. The policy does
not list templates: one registry, changed without a redeploy, with an author to credit.

A template's worth is measured against its use case's work done without any template: tokens
per completed task with the template vs without, over the same weeks. Reuse is what other people
(not the author) made with it; the tokens it saved them are their artifacts times the
difference in tokens per task, never below zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from budgets.directory import find_person
from budgets.policy import Policy
from budgets.windows import Window
from scoring.metrics import Totals
from scoring.rollups import CurrentWeeks, stored_template_sums, template_sums, window_sums
from storage.models import Person, PromptTemplate

# A template needs this many artifacts in the window before its savings are quoted as a tip.
MIN_TIP_ARTIFACTS = 5


@dataclass(frozen=True)
class TemplateReport:
    template_id: str
    name: str
    use_case: str
    author_id: int | None
    author_name: str | None
    totals: Totals  # everyone's work with the template, author included
    reuse: Totals  # other people's work with it
    users: int  # distinct people who used it, author included
    reusers: int  # distinct people other than the author who used it
    non_template_tokens_per_task: float | None  # the use case's work without any template

    @property
    def saving_share(self) -> float | None:
        """0.38: the template's tasks take 38% fewer tokens than the use case's untemplated
        ones (negative when they take more)."""
        if not self.totals.tokens_per_task or not self.non_template_tokens_per_task:
            return None
        return 1 - self.totals.tokens_per_task / self.non_template_tokens_per_task

    def tokens_saved(self, artifacts: int) -> int:
        """Tokens `artifacts` tasks made with the template saved against untemplated work."""
        if not self.totals.tokens_per_task or not self.non_template_tokens_per_task:
            return 0
        return max(
            0, round((self.non_template_tokens_per_task - self.totals.tokens_per_task) * artifacts)
        )


def template_reports(
    session: Session, rows: Select[Any], *, count_people: bool = True
) -> dict[str, TemplateReport]:
    """Every approved template's report over the `window_sums` rows given, by template id.
    One aggregate: sums per (use case, template, by the author or not); without
    `count_people`, `users` and `reusers` are left at 0 (counting distinct people is the
    costly part over many weeks)."""
    meta = approved_templates(session)
    if not meta:
        return {}
    sums = session.execute(template_sums(rows, count_people=count_people))
    return _reports(session, meta, sums, count_people)


def weekly_template_reports(
    session: Session,
    windows: Sequence[Window],
    now: datetime,
    current: CurrentWeeks,
    *,
    count_people: bool = True,
) -> dict[str, TemplateReport]:
    """The same as `template_reports` over `window_sums` of `windows`, reading the stored
    template sums of the weeks whose summaries are current (`current`) and summing the others.
    Distinct people add up across groups but not across weeks, so counting them over several
    windows takes the one aggregate."""
    if count_people and len(windows) > 1:
        rows = window_sums(session, windows, now, current=current.rollups)
        return template_reports(session, rows, count_people=True)
    meta = approved_templates(session)
    if not meta:
        return {}
    stored = [w.key for w in windows if w.key in current.summaries]
    others = [w for w in windows if w.key not in current.summaries]
    sums = stored_template_sums(session, stored)
    if others:
        rows = window_sums(session, others, now, current=current.rollups)
        sums += session.execute(template_sums(rows, count_people=count_people)).all()
    return _reports(session, meta, sums, count_people)


def approved_templates(session: Session) -> dict[str, PromptTemplate]:
    return {
        t.id: t
        for t in session.scalars(select(PromptTemplate).where(PromptTemplate.approved.is_(True)))
    }


def _reports(
    session: Session,
    meta: dict[str, PromptTemplate],
    sums: Iterable[Sequence[Any]],
    count_people: bool,
) -> dict[str, TemplateReport]:
    """Reports from `template_sums` rows: (use case, template, by the author, SUMS..., people)."""
    names = dict(
        session.execute(
            select(Person.id, Person.name).where(
                Person.id.in_({t.author_id for t in meta.values() if t.author_id})
            )
        ).all()
    )
    totals: dict[str, Totals] = defaultdict(Totals)
    reuse: dict[str, Totals] = defaultdict(Totals)
    users: dict[str, int] = defaultdict(int)
    reusers: dict[str, int] = defaultdict(int)
    untemplated: dict[str, Totals] = defaultdict(Totals)
    for row in sums:
        use_case, template_id, authored = row[0], row[1], row[2]
        people = int(row[-1]) if count_people else 0
        group = Totals.from_values((*row[3:-1], 0))
        if not template_id:
            untemplated[use_case] += group
            continue
        totals[template_id] += group
        users[template_id] += people
        if not authored:
            reuse[template_id] += group
            reusers[template_id] += people
    return {
        template_id: TemplateReport(
            template_id=template_id,
            name=template.name,
            use_case=template.use_case,
            author_id=template.author_id,
            author_name=names.get(template.author_id) if template.author_id else None,
            totals=totals.get(template_id, Totals()),
            reuse=reuse.get(template_id, Totals()),
            users=users.get(template_id, 0),
            reusers=reusers.get(template_id, 0),
            non_template_tokens_per_task=untemplated[template.use_case].tokens_per_task
            if template.use_case in untemplated
            else None,
        )
        for template_id, template in meta.items()
    }


def best_template(
    reports: dict[str, TemplateReport], use_case: str | None = None
) -> TemplateReport | None:
    """The template (of `use_case`, or any) whose tasks save the largest share of tokens, among
    those with enough artifacts to trust; None when none saves anything."""
    candidates = [
        r
        for r in reports.values()
        if (use_case is None or r.use_case == use_case)
        and r.totals.artifacts >= MIN_TIP_ARTIFACTS
        and (r.saving_share or 0) > 0
    ]
    return max(candidates, key=lambda r: (r.saving_share or 0, r.template_id), default=None)


class TemplateRejected(ValueError):
    """A template that cannot be registered; the message says why."""


def register_template(
    session: Session,
    policy: Policy,
    template_id: str,
    name: str,
    use_case: str,
    now: datetime,
    author_email: str | None = None,
) -> tuple[PromptTemplate, bool]:
    """Add or update an approved template; returns it and whether it is new. The use case must
    be in the policy and not prohibited; the author, when given, must be in the directory."""
    template_id, name = template_id.strip(), name.strip()
    if not template_id or len(template_id) > 200:
        raise TemplateRejected("the template id must be 1 to 200 characters")
    if not name or len(name) > 200:
        raise TemplateRejected("the template name must be 1 to 200 characters")
    known = policy.use_cases.get(use_case)
    if known is None:
        raise TemplateRejected(
            f"use case {use_case!r} is not in the policy (known: {', '.join(sorted(policy.use_cases))})"
        )
    if known.status == "prohibited":
        raise TemplateRejected(f"use case {use_case!r} is prohibited: {known.reason}")
    author_id = None
    if author_email:
        author = find_person(session, author_email)
        if author is None:
            raise TemplateRejected(f"no one with the email {author_email} is in the directory")
        author_id = author.id
    template = session.get(PromptTemplate, template_id)
    created = template is None
    if template is None:
        template = PromptTemplate(id=template_id, created_at=now)
        session.add(template)
    template.name = name
    template.use_case = use_case
    template.approved = True
    if author_id is not None or created:
        template.author_id = author_id
    session.flush()
    return template, created
