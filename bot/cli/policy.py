"""`tokenbot policy check [FILE]`: validate a policy file and list every problem by key."""

from __future__ import annotations

from budgets.policy import load_policy
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


def check_policy(args) -> int:  # noqa: ANN001
    import os

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
