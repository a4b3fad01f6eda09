"""The prompt library: proposing template texts, approving them, versions, retiring, and the
facts chat, the CLI and the API show about them.

A template (`PromptTemplate`) is proposed, approved or retired; its texts are versions
(`PromptTemplateVersion`), numbered from 1, never deleted. Whether a text is a valid template
is not decided here: the caller hands a `Draft` holding the variables its checker found
(`bot.core.prompt_text.check`, the sandbox; the domain imports no template engine). Here:

* Anyone in the directory proposes a template, or a new version of one that is not retired;
  one proposal per template waits at a time. The text is scanned for secrets and personal data
  (`budgets.sensitive`); any finding refuses it and nothing is stored.
* The use case's owner (the policy's `owner` email) or an admin approves a proposal or sends
  it back with a comment, never its own author unless an admin. A decision is one conditional
  UPDATE (`WHERE state = 'proposed'`), so a double click or two approvers at once decide once;
  the later click learns who decided and when.
* Approving a version makes it the template's current text; the one it replaces becomes
  `superseded` and keeps its stats (a version's stats are its template's usage from its
  approval until the next approval: usage names templates, not versions). The template's
  author (credited for reuse) is whoever proposed its first version.
* `approved` on the template row is `state == 'approved'` (scoring's aggregates filter on it);
  only `_set_state` writes either.
* Every change is in the audit log (`template.propose`, `template.approve`,
  `template.send_back`, `template.retire`) on `template:<id>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from budgets import audit
from budgets.directory import find_person
from budgets.policy import Policy
from budgets.sensitive import SensitiveFinding, find_sensitive
from scoring.templates import TemplateRejected
from storage.models import Outcome, Person, PromptTemplate, PromptTemplateVersion, UsageEvent

PROPOSED, APPROVED, RETIRED = "proposed", "approved", "retired"
SENT_BACK, SUPERSEDED = "sent_back", "superseded"
TEMPLATE_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2_000
MAX_COMMENT_CHARS = 2_000
ACCEPTED = ("accepted", "revised")  # as scoring counts accepted work


class TemplateRefused(TemplateRejected):
    """A proposal, decision or use that cannot be made; `code` names the rule, `facts` the
    values a message needs. Nothing was stored."""

    def __init__(self, code: str, message: str, **facts: object):
        super().__init__(message)
        self.code = code
        self.message = message
        self.facts = facts


@dataclass(frozen=True)
class Draft:
    """A proposal as typed, with the variables the text checker found in it."""

    template_id: str
    name: str
    use_case: str
    description: str
    text: str
    variables: tuple[str, ...]


@dataclass(frozen=True)
class VersionView:
    template_id: str
    version: int
    name: str
    description: str
    text: str
    variables: tuple[str, ...]
    state: str
    author_id: int | None
    author_name: str | None
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str


@dataclass(frozen=True)
class TemplateView:
    template_id: str
    name: str
    use_case: str
    description: str
    state: str
    author_id: int | None
    author_name: str | None
    current_version: int | None
    first_approved_at: datetime | None
    versions: tuple[VersionView, ...] = ()

    @property
    def current(self) -> VersionView | None:
        return next((v for v in self.versions if v.version == self.current_version), None)

    @property
    def pending(self) -> VersionView | None:
        return next((v for v in self.versions if v.state == PROPOSED), None)


@dataclass(frozen=True)
class Proposed:
    template: TemplateView
    version: VersionView
    approver_ids: tuple[int, ...]  # who is asked to decide (empty when approved at once)
    new_template: bool


@dataclass(frozen=True)
class Decided:
    template: TemplateView
    version: VersionView
    approved: bool
    decider_name: str


@dataclass(frozen=True)
class VersionStats:
    """A version's usage: the template's calls and outcomes from its approval to the next."""

    version: int
    since: datetime
    until: datetime | None
    calls: int
    input_tokens: int
    tokens: int
    artifacts: int
    accepted: int

    @property
    def tokens_per_call(self) -> float | None:
        return self.tokens / self.calls if self.calls else None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.artifacts if self.artifacts else None


@dataclass(frozen=True)
class TemplateDetail:
    template: TemplateView
    stats: tuple[VersionStats, ...] = field(default_factory=tuple)


# --- reading ----------------------------------------------------------------------------------


def template_view(session: Session, template_id: str) -> TemplateView | None:
    template = session.get(PromptTemplate, template_id)
    if template is None:
        return None
    rows = session.scalars(
        select(PromptTemplateVersion)
        .where(PromptTemplateVersion.template_id == template_id)
        .order_by(PromptTemplateVersion.version)
    ).all()
    people = {template.author_id} | {r.author_id for r in rows} | {r.decided_by_id for r in rows}
    names = dict(
        session.execute(
            select(Person.id, Person.name).where(Person.id.in_({p for p in people if p}))
        ).all()
    )
    versions = tuple(
        VersionView(
            template_id=r.template_id,
            version=r.version,
            name=r.name,
            description=r.description,
            text=r.text,
            variables=tuple(r.variables or ()),
            state=r.state,
            author_id=r.author_id,
            author_name=names.get(r.author_id) if r.author_id else None,
            created_at=r.created_at,
            decided_by=names.get(r.decided_by_id) if r.decided_by_id else None,
            decided_at=r.decided_at,
            comment=r.comment,
        )
        for r in rows
    )
    return TemplateView(
        template_id=template.id,
        name=template.name,
        use_case=template.use_case,
        description=template.description,
        state=template.state,
        author_id=template.author_id,
        author_name=names.get(template.author_id) if template.author_id else None,
        current_version=template.current_version,
        first_approved_at=template.first_approved_at,
        versions=versions,
    )


def usable_version(session: Session, template_id: str) -> tuple[TemplateView, VersionView]:
    """The template and its approved text, for filling in; refused (`unknown_template`,
    `retired`, `not_approved`, `no_text`) otherwise."""
    view = template_view(session, template_id)
    if view is None:
        raise TemplateRefused(
            "unknown_template", f"there is no template {template_id!r}", template_id=template_id
        )
    if view.state == RETIRED:
        raise TemplateRefused(
            "retired",
            f"template {template_id!r} is retired; `templates {view.use_case}` lists the "
            "approved ones",
            template_id=template_id,
            use_case=view.use_case,
        )
    current = view.current
    if view.state != APPROVED:
        raise TemplateRefused(
            "not_approved",
            f"template {template_id!r} is waiting for approval",
            template_id=template_id,
        )
    if current is None:
        raise TemplateRefused(
            "no_text",
            f"template {template_id!r} has no text yet (registered before the library had "
            "texts); propose one with `templates propose`",
            template_id=template_id,
        )
    return view, current


def template_detail(session: Session, template_id: str, now: datetime) -> TemplateDetail | None:
    """The template with each approved version's stats."""
    view = template_view(session, template_id)
    if view is None:
        return None
    approved = [v for v in view.versions if v.state in (APPROVED, SUPERSEDED) and v.decided_at]
    stats = []
    for index, version in enumerate(approved):
        assert version.decided_at is not None
        until = approved[index + 1].decided_at if index + 1 < len(approved) else None
        stats.append(_stats(session, template_id, version.version, version.decided_at, until, now))
    return TemplateDetail(view, tuple(stats))


def _stats(
    session: Session,
    template_id: str,
    version: int,
    since: datetime,
    until: datetime | None,
    now: datetime,
) -> VersionStats:
    end = until or now
    calls, input_tokens, tokens = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(UsageEvent.input_tokens), 0),
            func.coalesce(func.sum(UsageEvent.input_tokens + UsageEvent.output_tokens), 0),
        ).where(
            UsageEvent.template_id == template_id,
            UsageEvent.occurred_at >= since,
            UsageEvent.occurred_at < end,
        )
    ).one()
    artifacts, accepted = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Outcome.status.in_(ACCEPTED), 1), else_=0)), 0),
        ).where(
            Outcome.template_id == template_id,
            Outcome.occurred_at >= since,
            Outcome.occurred_at < end,
        )
    ).one()
    return VersionStats(
        version,
        since,
        until,
        int(calls),
        int(input_tokens),
        int(tokens),
        int(artifacts),
        int(accepted),
    )


def pending_for(session: Session, policy: Policy, person: Person) -> list[TemplateView]:
    """Templates with a version waiting for a decision that `person` may make, oldest first."""
    rows = session.execute(
        select(
            PromptTemplateVersion.template_id,
            PromptTemplateVersion.author_id,
            PromptTemplate.use_case,
        )
        .join(PromptTemplate, PromptTemplate.id == PromptTemplateVersion.template_id)
        .where(PromptTemplateVersion.state == PROPOSED)
        .order_by(PromptTemplateVersion.created_at, PromptTemplateVersion.id)
    ).all()
    views = []
    for template_id, author_id, use_case in rows:
        if not may_decide(policy, person, use_case):
            continue
        if author_id == person.id and not person.has_role("admin"):
            continue
        view = template_view(session, template_id)
        if view is not None:
            views.append(view)
    return views


def may_decide(policy: Policy, person: Person, use_case: str) -> bool:
    """An admin, or the use case's owner in the policy."""
    if person.has_role("admin"):
        return True
    use = policy.use_cases.get(use_case)
    return bool(use and use.owner and use.owner.strip().lower() == person.email.lower())


def approver_ids(
    session: Session, policy: Policy, use_case: str, author_id: int | None
) -> tuple[int, ...]:
    """Who is asked to decide a proposal: the use case's owner when they are in the directory,
    else every admin; never the author (an admin author asks the others)."""
    use = policy.use_cases.get(use_case)
    owner = find_person(session, use.owner) if use and use.owner else None
    if owner is not None and owner.active and owner.id != author_id:
        return (owner.id,)
    admins = session.scalars(
        select(Person).where(Person.active, Person.roles.contains("admin")).order_by(Person.id)
    ).all()
    return tuple(p.id for p in admins if p.has_role("admin") and p.id != author_id)


# --- changing ---------------------------------------------------------------------------------


def propose(
    session: Session,
    policy: Policy,
    draft: Draft,
    author: Person | None,
    now: datetime,
    *,
    approved_by: str | None = None,
) -> Proposed:
    """Store `draft` as a new template or the next version of one. With `approved_by` (an
    admin adding it through the CLI: the actor recorded) the version is approved at once;
    otherwise it waits for `approver_ids`. Raises TemplateRefused; the caller commits."""
    _check_draft(policy, draft)
    template = session.get(PromptTemplate, draft.template_id)
    if template is not None:
        if template.state == RETIRED:
            raise TemplateRefused(
                "retired",
                f"template {draft.template_id!r} is retired; propose it under a new id",
                template_id=draft.template_id,
            )
        if template.use_case != draft.use_case:
            raise TemplateRefused(
                "use_case_differs",
                f"template {draft.template_id!r} is for {template.use_case}; a new version "
                "keeps its use case (propose another id for another use case)",
                template_id=draft.template_id,
                use_case=template.use_case,
            )
        waiting = session.scalar(
            select(PromptTemplateVersion.version).where(
                PromptTemplateVersion.template_id == draft.template_id,
                PromptTemplateVersion.state == PROPOSED,
            )
        )
        if waiting is not None:
            raise TemplateRefused(
                "pending_version",
                f"version {waiting} of {draft.template_id!r} is already waiting for approval",
                template_id=draft.template_id,
                version=waiting,
            )
    new_template = template is None
    if template is None:
        template = PromptTemplate(
            id=draft.template_id,
            name=draft.name,
            use_case=draft.use_case,
            description=draft.description,
            author_id=author.id if author else None,
            created_at=now,
        )
        _set_state(template, PROPOSED)
        session.add(template)
        session.flush()
    number = (
        session.scalar(
            select(func.max(PromptTemplateVersion.version)).where(
                PromptTemplateVersion.template_id == draft.template_id
            )
        )
        or 0
    ) + 1
    version = PromptTemplateVersion(
        template_id=draft.template_id,
        version=number,
        name=draft.name,
        description=draft.description,
        text=draft.text,
        variables=list(draft.variables),
        author_id=author.id if author else None,
        state=PROPOSED,
        created_at=now,
        comment="",
    )
    session.add(version)
    session.flush()
    actor = author.email if author else (approved_by or "cli")
    audit.record(
        session,
        now,
        actor,
        "template.propose",
        f"template:{draft.template_id}",
        {"version": number, "variables": list(draft.variables)},
    )
    approvers: tuple[int, ...] = ()
    if approved_by is not None:
        _approve(session, template, version, None, now)
        audit.record(
            session,
            now,
            approved_by,
            "template.approve",
            f"template:{draft.template_id}",
            {"version": number},
        )
    else:
        approvers = approver_ids(session, policy, draft.use_case, author.id if author else None)
    session.flush()
    view = template_view(session, draft.template_id)
    assert view is not None
    return Proposed(view, _version(view, number), approvers, new_template)


def decide(
    session: Session,
    policy: Policy,
    template_id: str,
    number: int,
    decider: Person,
    approve: bool,
    comment: str,
    now: datetime,
) -> Decided:
    """Approve version `number` of the template, or send it back with `comment`; exactly once.
    Raises TemplateRefused (`unknown_template`, `not_allowed`, `own_proposal`,
    `comment_needed`, `already_decided`); the caller commits."""
    template = session.get(PromptTemplate, template_id)
    version = session.scalar(
        select(PromptTemplateVersion).where(
            PromptTemplateVersion.template_id == template_id,
            PromptTemplateVersion.version == number,
        )
    )
    if template is None or version is None:
        raise TemplateRefused(
            "unknown_template",
            f"there is no version {number} of template {template_id!r}",
            template_id=template_id,
        )
    if not may_decide(policy, decider, template.use_case):
        raise TemplateRefused(
            "not_allowed",
            f"only the owner of the use case {template.use_case} or an admin decides its templates",
            use_case=template.use_case,
        )
    if version.author_id == decider.id and not decider.has_role("admin"):
        raise TemplateRefused(
            "own_proposal", "you proposed this template; its use case's owner or an admin decides"
        )
    comment = (comment or "").strip()
    if not approve and not comment:
        raise TemplateRefused(
            "comment_needed", "say what to change: sending a template back needs a comment"
        )
    if len(comment) > MAX_COMMENT_CHARS:
        raise TemplateRefused(
            "comment_too_long", f"a comment takes at most {MAX_COMMENT_CHARS:,} characters"
        )
    changed = session.execute(
        update(PromptTemplateVersion)
        .where(PromptTemplateVersion.id == version.id, PromptTemplateVersion.state == PROPOSED)
        .values(
            state=APPROVED if approve else SENT_BACK,
            decided_by_id=decider.id,
            decided_at=now,
            comment=comment,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(version)
        who = session.get(Person, version.decided_by_id) if version.decided_by_id else None
        raise TemplateRefused(
            "already_decided",
            f"version {number} of {template_id!r} was already "
            f"{'approved' if version.state in (APPROVED, SUPERSEDED) else 'sent back'}",
            state=version.state,
            decided_by=who.name if who else None,
            decided_at=version.decided_at,
        )
    session.refresh(version)
    if approve:
        _approve(session, template, version, decider, now)
    audit.record(
        session,
        now,
        decider.email,
        "template.approve" if approve else "template.send_back",
        f"template:{template_id}",
        {"version": number, **({"comment": comment} if comment else {})},
    )
    session.flush()
    view = template_view(session, template_id)
    assert view is not None
    return Decided(view, _version(view, number), approve, decider.name)


def retire(
    session: Session, policy: Policy, template_id: str, person: Person | None, now: datetime
) -> TemplateView:
    """Retire the template (an admin or its use case's owner; `person` None is the CLI).
    Usage that names it stays counted; the gateway and chat refuse it from now on."""
    template = session.get(PromptTemplate, template_id)
    if template is None:
        raise TemplateRefused(
            "unknown_template", f"there is no template {template_id!r}", template_id=template_id
        )
    if person is not None and not may_decide(policy, person, template.use_case):
        raise TemplateRefused(
            "not_allowed",
            f"only the owner of the use case {template.use_case} or an admin retires its templates",
            use_case=template.use_case,
        )
    _set_state(template, RETIRED)
    session.execute(
        update(PromptTemplateVersion)
        .where(
            PromptTemplateVersion.template_id == template_id,
            PromptTemplateVersion.state == PROPOSED,
        )
        .values(state=SENT_BACK, decided_at=now, comment="the template was retired")
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        now,
        person.email if person else "cli",
        "template.retire",
        f"template:{template_id}",
    )
    session.flush()
    view = template_view(session, template_id)
    assert view is not None
    return view


def _approve(
    session: Session,
    template: PromptTemplate,
    version: PromptTemplateVersion,
    decider: Person | None,
    now: datetime,
) -> None:
    session.execute(
        update(PromptTemplateVersion)
        .where(
            PromptTemplateVersion.template_id == template.id,
            PromptTemplateVersion.state == APPROVED,
            PromptTemplateVersion.id != version.id,
        )
        .values(state=SUPERSEDED)
        .execution_options(synchronize_session=False)
    )
    version.state = APPROVED
    version.decided_at = version.decided_at or now
    if decider is not None:
        version.decided_by_id = decider.id
    template.current_version = version.version
    template.name = version.name
    template.description = version.description
    template.first_approved_at = template.first_approved_at or now
    _set_state(template, APPROVED)


def _set_state(template: PromptTemplate, state: str) -> None:
    template.state = state
    template.approved = state == APPROVED


def _version(view: TemplateView, number: int) -> VersionView:
    return next(v for v in view.versions if v.version == number)


def _check_draft(policy: Policy, draft: Draft) -> None:
    if not TEMPLATE_ID.fullmatch(draft.template_id):
        raise TemplateRefused(
            "invalid_id",
            "a template id is 1 to 100 lowercase letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit (e.g. seo-brief-v3)",
        )
    if not draft.name.strip() or len(draft.name) > MAX_NAME_CHARS:
        raise TemplateRefused("invalid_name", "the template name must be 1 to 200 characters")
    if len(draft.description) > MAX_DESCRIPTION_CHARS:
        raise TemplateRefused(
            "invalid_description",
            f"the description takes at most {MAX_DESCRIPTION_CHARS:,} characters",
        )
    use = policy.use_cases.get(draft.use_case)
    if use is None:
        raise TemplateRefused(
            "unknown_use_case",
            f"use case {draft.use_case!r} is not in the policy (known: "
            f"{', '.join(sorted(policy.use_cases))})",
            use_case=draft.use_case,
        )
    if use.status == "prohibited":
        raise TemplateRefused(
            "prohibited", f"use case {draft.use_case!r} is prohibited: {use.reason}"
        )
    findings = tuple(find_sensitive(draft.text)) + tuple(find_sensitive(draft.description))
    if findings:
        raise TemplateRefused(
            "sensitive",
            "the template looks like it holds "
            + ", ".join(sorted({_kind(f) for f in findings}))
            + f"; make such values variables instead. {policy.estimate.redaction_rule}",
            kinds=sorted({f.kind for f in findings}),
        )


_KIND_WORDS = {
    "private_key": "a private key",
    "api_key": "an API key",
    "token": "an access token",
    "email": "an email address",
    "card_number": "a card number",
    "phone": "a phone number",
}


def _kind(finding: SensitiveFinding) -> str:
    return _KIND_WORDS.get(finding.kind, finding.kind)
