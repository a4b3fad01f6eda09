"""The draw-down rule: which grants an amount of usage is drawn from, and how much from each.

One pure function, applied by the ledger when it debits usage (`budgets.usage_ledger`) and by the
gateway's authorization when it says which pool a request would draw from first
(`budgets.authorize`); repricing refunds in the reverse of the same order.

Order (documented for admins in the README): the reserved pool for the use case, then the
project budget, then the person's baseline, then their team's pool, then their burst grants,
then manual grants (`DRAW_ORDER`); within a kind, grants of the usage's token class first, then
the soonest-expiring, then the oldest (lowest id). Each grant gives at most what it holds; what
no grant covers is the overdraft, so the draws and the overdraft always add up to the amount.

Eligibility (`eligible_grants`) comes before the order: a project budget or a reserved pool
whose policy entry names members (people by email, directory teams) is drawn only by them;
anyone else tagging that project or use case draws from their own grants. The ledger and
authorize apply the same filter, from the policy in memory (no read per grant).
A second, separate rule limits what one member may draw from their team's pool in a period
(`team_pool_left`, issues #16 and #23): a member a manager allocated a share to draws up to that
share and nothing of others' shares; the others share the unallocated rest, each up to the
policy's `member_share_cap`. Callers hand its result to `plan_draws` as a `kind_limits` entry,
so the ledger and authorize apply the same limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from budgets.policy import EVERYONE, Members, Policy

DRAW_ORDER = ("reserved", "project", "baseline", "team_pool", "burst", "manual")
_KIND_RANK = {kind: rank for rank, kind in enumerate(DRAW_ORDER)}
UNKNOWN_KIND_RANK = 99  # a kind the rule does not know is drawn from last


class Drawable(Protocol):
    """A grant as the rule sees it (a SQL row or a dataclass both fit)."""

    @property
    def id(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def token_class(self) -> str: ...

    @property
    def expires_at(self) -> Any: ...  # comparable among the grants handed in


G = TypeVar("G", bound=Drawable)


class Keyed(Drawable, Protocol):
    """A grant with its idempotency key, which names the reserved pool it was issued for."""

    @property
    def idempotency_key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


@dataclass(frozen=True)
class Drawer:
    """Who draws, as eligibility sees them: their email and directory team's name."""

    email: str | None
    team: str | None


@dataclass(frozen=True)
class Eligible(Generic[K]):
    grants: list[K]  # those the drawer may draw from
    not_member_of: tuple[str, ...]  # the pools they are not a member of ("project Apollo")


def members_of(policy: Policy, grant: Keyed, project: str | None) -> tuple[str, Members | None]:
    """Who may draw `grant` (a project's grant is the usage's `project`), with its label;
    None: nobody (a reserved grant the policy no longer names: its pool was renamed, removed
    or its launch window moved, so whoever it was for is not known any more)."""
    if grant.kind == "project" and project is not None:
        spec = policy.project_named(project)
        return f"project {project}", spec.members if spec is not None else EVERYONE
    if grant.kind == "reserved":
        pool = policy.reserved_pool_of_grant(grant.idempotency_key)
        if pool is None:
            return "a reserved pool the policy no longer names", None
        return f"reserved pool {pool.name}", pool.members
    return "", EVERYONE  # a person's own grants, their team's pool: chosen by scope


def eligible_grants(
    grants: Iterable[K], policy: Policy, drawer: Drawer, project: str | None
) -> Eligible[K]:
    """The grants `drawer` may draw when tagging `project` (the policy's name), and the pools
    among them they may not (each named once)."""
    allowed: list[K] = []
    refused: dict[str, None] = {}
    for grant in grants:
        label, members = members_of(policy, grant, project)
        if members is not None and members.admits(drawer.email, drawer.team):
            allowed.append(grant)
        else:
            refused[label] = None
    return Eligible(allowed, tuple(refused))


def kind_rank(kind: str) -> int:
    """A grant kind's place in DRAW_ORDER (unknown kinds last)."""
    return _KIND_RANK.get(kind, UNKNOWN_KIND_RANK)


def draw_order(grants: Iterable[G], token_class: str) -> list[G]:
    """The grants in the order usage of `token_class` is drawn from them."""
    return sorted(
        grants,
        key=lambda g: (kind_rank(g.kind), g.token_class != token_class, g.expires_at, g.id),
    )


@dataclass(frozen=True)
class Draw:
    grant_id: int
    amount: int


@dataclass(frozen=True)
class DrawPlan:
    draws: tuple[Draw, ...]  # in draw order, each > 0
    overdraft: int  # what no grant covered

    @property
    def drawn(self) -> int:
        return sum(d.amount for d in self.draws)


def plan_draws(
    grants: Iterable[Drawable],
    amount: int,
    token_class: str,
    remaining: Mapping[int, int],
    *,
    kind_limits: Mapping[str, int] | None = None,
) -> DrawPlan:
    """Draw `amount` (>= 0) of usage of `token_class` (the policy's class for its use case)
    from `grants`, none giving more than `remaining[grant.id]`, and the grants of a kind in
    `kind_limits` no more than its limit together (a member's `team_pool_left`). The caller
    has picked the grants that may cover the usage (scope, effective and not expired at its
    time)."""
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    draws: list[Draw] = []
    taken: dict[int, int] = {}  # a grant handed in twice still gives what it holds, once
    kind_left = dict(kind_limits or {})
    left = amount
    for g in draw_order(grants, token_class):
        if left == 0:
            break
        take = min(left, remaining.get(g.id, 0) - taken.get(g.id, 0))
        if g.kind in kind_left:
            take = min(take, kind_left[g.kind])
        if take > 0:
            draws.append(Draw(g.id, take))
            taken[g.id] = taken.get(g.id, 0) + take
            if g.kind in kind_left:
                kind_left[g.kind] -= take
            left -= take
    return DrawPlan(tuple(draws), left)


@dataclass(frozen=True)
class PoolShare:
    """One member's standing in their team's pool for a period."""

    allocation: int | None  # set by a manager (`team allocate`); None: shares the rest
    used: int  # drawn from the pool this period


NO_SHARE = PoolShare(None, 0)


def held_for_others(shares: Mapping[int, PoolShare], person_id: int) -> int:
    """What the pool must keep for the other members' allocations: each one's allocation less
    what they drew (never below zero: drawing past one's share does not free another's)."""
    return sum(
        max(s.allocation - s.used, 0)
        for pid, s in shares.items()
        if s.allocation is not None and pid != person_id
    )


def team_pool_left(
    person_id: int,
    pool_remaining: int,
    shares: Mapping[int, PoolShare],
    member_cap: int | None,
) -> int:
    """What `person_id` may still draw from their team's pool this period.

    `pool_remaining` is what the pool holds now; `shares` the members with an allocation or a
    draw this period (a member absent has neither); `member_cap` the policy's cap on what one
    member without an allocation draws in a period (None: no cap). A member with an allocation
    draws up to it (the cap does not apply: a manager chose the figure); one without shares
    what the pool holds beyond the others' outstanding allocations, up to the cap. Never more
    than the pool holds, never below zero.
    """
    mine = shares.get(person_id, NO_SHARE)
    if mine.allocation is not None:
        left = mine.allocation - mine.used
    else:
        left = pool_remaining - held_for_others(shares, person_id)
        if member_cap is not None:
            left = min(left, member_cap - mine.used)
    return max(min(left, pool_remaining), 0)
