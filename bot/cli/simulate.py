"""`tokenbot simulate [--seed N] [--people N] [--weeks N]`: measure the gaming detectors on a
synthetic org whose gamers are known (see `benchmarks.simulation`). Prints one row per detector
(recall on its gamers, false-positive rate on honest people) and whether any gamer reached a
recognition tier; exits 1 when a goal is missed, so CI can run it."""

from __future__ import annotations

import sys
import time

from benchmarks.simulation import GOALS, simulate
from bot.bootstrap import Settings
from budgets.policy import load_policy
from scoring.sections import POLICY_SECTIONS


def register(sub) -> None:  # noqa: ANN001
    parser = sub.add_parser(
        "simulate", help="measure the gaming detectors on a synthetic org (a temporary database)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--people", type=int, default=500, help="synthetic people (default 500)")
    parser.add_argument("--weeks", type=int, default=6, help="weeks of work (default 6)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run_simulate, standalone=True)


def run_simulate(args) -> int:  # noqa: ANN001
    from bot.cli import CommandFailed

    if args.people < 50 or args.weeks < 2:
        raise CommandFailed("simulate needs at least 50 people and 2 weeks")
    policy = load_policy(Settings.from_env().policy_path, sections=POLICY_SECTIONS)
    started = time.monotonic()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)

    report = simulate(
        seed=args.seed, people=args.people, weeks=args.weeks, policy=policy, progress=progress
    )
    print(
        f"{report.people} people, {report.weeks} weeks, seed {report.seed}, "
        f"{report.gamers} gamers ({time.monotonic() - started:.0f} s)"
    )
    print(f"{'detector':<18} {'band':<9} {'recall':>6}  {'caught':>7}  {'false pos.':>10}  flagged")
    for row in report.rows:
        mark = "" if row.meets_goals else "  MISSED"
        print(
            f"{row.detector:<18} {row.band:<9} {row.recall:>6.2f}  {row.caught:>3}/{row.gamers:<3}"
            f"  {row.false_positive_rate:>10.3f}  {row.false_positives}/{row.honest} honest{mark}"
        )
    for band in report.bands:
        print(
            f"honest people flagged by any detector, {band.band}: {band.flagged}/{band.honest}"
            f" ({band.rate:.3f})"
        )
    if report.recognised_gamers:
        print(f"gamers recognised: {len(report.recognised_gamers)}")
        for gamer in report.recognised_gamers:
            flagged = ", ".join(gamer.flagged) or "never"
            print(f"  {gamer.email} ({gamer.way}) in {', '.join(gamer.weeks)}; flagged: {flagged}")
    else:
        print(f"gamers recognised: none ({report.recognitions} recognitions in all)")
    verdict = "met" if report.meets_goals else "MISSED"
    print(
        f"goals (recall >= {GOALS['recall']:.2f}, >= {GOALS['light_recall']:.2f} in the light band,"
        f" false positives <= {GOALS['false_positives']:.2f} in every band, no gamer recognised):"
        f" {verdict}"
    )
    return 0 if report.meets_goals else 1
