"""`tokenbot policy check [FILE] | diff FILE | apply FILE --as ADMIN | history`.

`check` validates a file and lists every problem by key. `diff` shows what a new file would
change for whom against the policy in force, applying nothing. `apply` validates, then stores
the file as the next policy version (admins only, audited); every running process picks it up
on its next request or job (`budgets.policy_store`). `history` lists the stored versions.
A file that does not validate gets every problem (`PolicyInvalid`, reported by `main`) and
changes nothing.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.bootstrap import Services
from budgets.policy import Policy, PolicyError, PolicyInvalid, load_policy
from budgets.policy_diff import PolicyChange, count_affected, diff_policies
from budgets.policy_store import NotAnAdmin, VersionInfo, admin_named, apply, history, parse_text
from scoring.sections import POLICY_SECTIONS


def register(sub) -> None:  # noqa: ANN001
    policy = sub.add_parser("policy", help="the token policy").add_subparsers(
        dest="policy_command", required=True
    )
    check = policy.add_parser(
        "check", help="validate a policy file (default: TOKENBOT_POLICY or the built-in one)"
    )
    check.add_argument("file", nargs="?")
    check.set_defaults(run=check_policy, standalone=True)  # a policy, not the services
    diff = policy.add_parser(
        "diff", help="what a new policy file changes, for whom, against the one in force"
    )
    diff.add_argument("file")
    diff.set_defaults(run=diff_policy)
    applying = policy.add_parser(
        "apply", help="validate a policy file and make it the policy in force (admins only)"
    )
    applying.add_argument("file")
    applying.add_argument("--as", dest="email", required=True, help="the applying admin's email")
    applying.add_argument("--note", default="", help="why (kept with the version)")
    applying.set_defaults(run=apply_policy)
    hist = policy.add_parser("history", help="every policy version applied, newest first")
    hist.set_defaults(run=policy_history)


def check_policy(args) -> int:  # noqa: ANN001

    from message_templates import plural

    path = args.file or os.environ.get("TOKENBOT_POLICY")
    policy = load_policy(
        path, sections=POLICY_SECTIONS
    )  # PolicyInvalid is reported by main with every problem
    counts = ", ".join(
        plural(len(items), word)
        for items, word in (
            (policy.tiers, "tier"),
            (policy.models, "model"),
            (policy.use_cases, "use case"),
            (policy.projects, "project"),
        )
    )
    print(f"policy OK ({policy.source}): phase {policy.phase}, {counts}")
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise PolicyInvalid([PolicyError("(file)", f"cannot read {path}: {reason}")], path) from exc


def _changes(services: Services, new: Policy) -> list[PolicyChange]:
    with services.db.read() as session:
        return count_affected(session, services.policy, diff_policies(services.policy, new))


def in_force(info: VersionInfo | None) -> str:
    if info is None or info.version == 0:
        return f"version 0 (the file: {info.source if info else 'built-in default'})"
    assert info.applied_at is not None
    return f"version {info.version} (applied {info.applied_at:%Y-%m-%d %H:%M} UTC by {info.applied_by})"


def show(value: Any, unit: str) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}{' ' + unit if unit else ''}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v, "") for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def change_line(change: PolicyChange) -> str:
    if change.kind == "added":
        what = f"added, {show(change.new, change.unit)}"
    elif change.kind == "removed":
        what = f"removed (was {show(change.old, change.unit)})"
    elif isinstance(change.old, int) and isinstance(change.new, int) and change.unit:
        what = f"{change.old:,} -> {change.new:,} {change.unit}"
    else:
        what = f"{show(change.old, change.unit)} -> {show(change.new, change.unit)}"
    if change.affects is not None:
        people = "person" if change.affects == 1 else "people"
        what += f", affects {change.affects} {people}"
    return f"  {change.subject}: {what}"


def print_changes(changes: list[PolicyChange]) -> None:
    for change in changes:
        print(change_line(change))


def diff_policy(args, services: Services) -> int:  # noqa: ANN001
    new = parse_text(_read(args.file), args.file, POLICY_SECTIONS)
    changes = _changes(services, new)
    print(f"in force: {in_force(services.policy_version)}; new: {args.file}")
    if not changes:
        print("no changes: the file says what the policy in force says")
        return 0
    print_changes(changes)
    print(
        f"{len(changes)} change(s); nothing applied "
        f"(apply with: tokenbot policy apply {args.file} --as ADMIN_EMAIL)"
    )
    return 0


def apply_policy(args, services: Services) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    text = _read(args.file)
    new = parse_text(text, args.file, POLICY_SECTIONS)  # every problem, nothing stored
    try:
        admin = admin_named(services.db, args.email)
    except NotAnAdmin as refused:
        raise CommandFailed(str(refused)) from refused
    changes = _changes(services, new)
    if not changes:
        raise CommandFailed(
            f"{args.file} changes nothing from {in_force(services.policy_version)}; nothing applied"
        )
    applied = apply(services.db, text, admin, services.clock(), args.note, POLICY_SECTIONS)
    print_changes(changes)
    print(
        f"policy version {applied.version} applied by {applied.applied_by} "
        f"(was version {applied.previous}); running processes use it from their next request "
        "or job"
    )
    return 0


def policy_history(args, services: Services) -> int:  # noqa: ANN001
    versions = history(services.db)
    for info in versions:
        assert info.applied_at is not None
        note = f"  {info.note}" if info.note else ""
        print(
            f"version {info.version}  {info.applied_at:%Y-%m-%d %H:%M} UTC  {info.applied_by}  "
            f"sha256 {info.sha256[:12]}{note}"
        )
    file = services.file_policy.source if services.file_policy else "built-in default"
    marker = "" if versions else "  (in force: no version applied yet)"
    print(f"version 0  the file: {file}{marker}")
    return 0
