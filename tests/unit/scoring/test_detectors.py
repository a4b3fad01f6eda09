"""The gaming detectors as pure functions: what each one flags, what it leaves alone, and the
plain explanation a flag carries."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from bot.core.presenters.flags import explain
from budgets.policy import load_policy
from budgets.windows import week_by_key
from scoring.detectors import (
    PAIR_BLOCK,
    Burst,
    ContextWeek,
    Conversation,
    UseCaseBaseline,
    UseCaseWeek,
    WeekData,
    _jump,
    chat_loops,
    close_pairs,
    context_inflation,
    context_weeks,
    judge,
    near_duplicate_groups,
    output_spam,
    overspend,
    prompt_spam,
    task_splitting,
    underuse,
)
from scoring.governance import GovernanceSettings, governance_settings

S = GovernanceSettings()
BRIEFS = UseCaseBaseline("seo-brief", person_weeks=40, input_per_task=2_000, tokens_per_task=8_000)


def week(key: str = "2026-W46", median_input: float = 2_000, tasks: int = 10, accepted: int = 7):
    return UseCaseWeek(
        key,
        "seo-brief",
        tasks,
        median_input,
        8_000,
        80_000,
        tasks,
        accepted,
        (median_input,) * tasks,
    )


def unrelated(n: int, seed: int = 1) -> dict[str, int]:
    """n fingerprints of unrelated texts (about 32 bits apart), one artifact or call each."""
    rng = random.Random(seed)
    return {f"{rng.getrandbits(64):016x}": 1 for _ in range(n)}


def flip(fingerprint: str, *bits: int) -> str:
    value = int(fingerprint, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


# --- context inflation --------------------------------------------------------------------


def context(ratio: float, key: str = "2026-W46", tasks: int = 10, accepted: int = 7):
    """A person's week whose typical task carried `ratio` times its use case's context."""
    return ContextWeek(key, tasks, ratio, tasks, accepted, "seo-brief", 2_000 * ratio, 2_000)


def test_context_far_above_the_use_case_median_is_flagged_with_the_numbers():
    evidence = context_inflation([context(4.0)], S.context_inflation)
    assert evidence is not None and evidence["pattern"] == "level"
    assert evidence["median_ratio"] == 4.0 and evidence["baseline_input_per_task"] == 2_000
    assert evidence["weighed_ratio"] == pytest.approx(4.0 ** (10 / 11.5), abs=0.01)
    text = explain("context_inflation", evidence)
    assert "Across your 10 tasks this week, the median request carried 4.0 times" in text
    assert "each request carried 8,000 input tokens against a median of 2,000" in text
    assert "Counting 1.5 more tasks at the usual context" in text and "It clears when" in text


def test_heavy_but_ordinary_context_and_small_samples_are_left_alone():
    assert context_inflation([context(2.0)], S.context_inflation) is None
    assert context_inflation([context(4.5, tasks=2)], S.context_inflation) is None


def test_a_light_week_at_several_times_the_context_is_flagged_and_proves_less_than_many():
    light = context_inflation([context(5.0, tasks=4, accepted=2)], S.context_inflation)
    assert light is not None and light["tasks_judged"] == 4 and light["weighed_ratio"] < 5.0
    assert context_inflation([context(3.0, tasks=3)], S.context_inflation) is None


def test_evidence_of_inflated_context_accumulates_over_the_weeks_it_holds():
    one = [context(3.5, "2026-W46", tasks=4)]
    assert context_inflation(one, S.context_inflation) is None  # 4 tasks: 2.49 after shrinkage
    two = [context(3.5, "2026-W45", tasks=4), *one]
    evidence = context_inflation(two, S.context_inflation)
    assert evidence is not None and (evidence["weeks"], evidence["tasks_judged"]) == (2, 8)
    assert "in the 2 weeks from 2026-W45" in explain("context_inflation", evidence)
    broken = [context(3.5, "2026-W44", tasks=4), context(1.0, "2026-W45", tasks=4), *one]
    assert context_inflation(broken, S.context_inflation) is None  # a normal week ends the run


def test_an_honest_heavy_context_month_and_one_long_debugging_session_are_left_alone():
    heavy = [context(2.2, f"2026-W4{n}", tasks=20) for n in (3, 4, 5, 6)]
    assert context_inflation(heavy, S.context_inflation) is None
    debugging = ContextWeek(
        "2026-W46", 7, 1.0, 7, 5, "seo-brief", 2_000, 2_000, (1.0, 0.9, 1.1, 1.0, 0.8, 1.2, 4.0)
    )
    assert context_inflation([debugging], S.context_inflation) is None


def test_context_weeks_pool_a_persons_use_cases_against_each_ones_median():
    coding = UseCaseBaseline("coding", 30, input_per_task=6_000, tokens_per_task=20_000)
    rows = {
        "seo-brief": [
            UseCaseWeek("2026-W46", "seo-brief", 3, 6_000, 9_000, 27_000, 3, 2, (6_000,) * 3)
        ],
        "coding": [
            UseCaseWeek("2026-W46", "coding", 5, 18_000, 25_000, 125_000, 5, 3, (18_000,) * 5)
        ],
        "personal": [UseCaseWeek("2026-W46", "personal", 9, 99, 99, 99, 9, 9, (99,) * 9)],
    }
    (week_row,) = context_weeks(rows, {"seo-brief": BRIEFS, "coding": coding})
    assert (week_row.tasks, week_row.ratio, week_row.use_case) == (8, 3.0, "coding")
    assert (week_row.artifacts, week_row.accepted) == (8, 5)


def test_context_rising_week_after_week_without_better_acceptance_is_flagged():
    history = [
        context(0.7, "2026-W43"),
        context(1.0, "2026-W44"),
        context(1.3, "2026-W45"),
        context(1.8, "2026-W46"),
    ]
    evidence = context_inflation(history, S.context_inflation)
    assert evidence is not None and evidence["pattern"] == "rising"
    assert evidence["rise"] == pytest.approx(1.8 ** (10 / 11.5) / 0.7 - 1, abs=0.01)
    assert "rose every week for 3 weeks" in explain("context_inflation", evidence)


def test_rising_context_that_buys_better_acceptance_is_not_inflation():
    history = [
        context(0.8, "2026-W43", accepted=4),
        context(1.1, "2026-W44", accepted=5),
        context(1.4, "2026-W45", accepted=7),
        context(1.7, "2026-W46", accepted=9),
    ]
    assert context_inflation(history, S.context_inflation) is None


def test_a_sudden_jump_on_the_persons_own_weeks_is_flagged():
    history = [context(0.6, "2026-W44"), context(0.7, "2026-W45"), context(1.7, "2026-W46")]
    evidence = context_inflation(history, S.context_inflation)
    assert evidence is not None and evidence["pattern"] == "jump"
    jump = round((1.7 / evidence["ratio_before"]) ** (10 / 11.5), 2)
    assert evidence["ratio_before"] == 0.65 and evidence["jump"] == pytest.approx(jump, abs=0.02)
    text = explain("context_inflation", evidence)
    assert f"{evidence['jump']} times your own 0.65 in the weeks before" in text


def test_a_light_users_acceptance_rising_by_chance_does_not_excuse_a_jump_and_a_heavy_ones_does():
    # 5 of 6 accepted against 6 of 8 before: 8 points up, well within chance at these numbers.
    light = [
        context(0.9, "2026-W44", tasks=4, accepted=3),
        context(0.95, "2026-W45", tasks=4, accepted=3),
        context(3.1, "2026-W46", tasks=6, accepted=5),
    ]
    evidence = context_inflation(light, S.context_inflation)
    assert evidence is not None and evidence["pattern"] == "jump"
    assert (evidence["artifacts"], evidence["artifacts_before"]) == (6, 8)
    assert evidence["rise_needed"] == 0.36  # 1.64 standard errors at 79% of 14 results
    assert (
        "while acceptance did not improve beyond chance (75% of 8 results then, 83% of 6 now:"
        " at these numbers only a rise of more than 36% counts as better)"
    ) in explain("context_inflation", evidence)
    # 75% of 160 results then and 90% of 60 now: a rise of 15 points is beyond chance (10 are
    # needed), so the jump is not held against a heavy user (their level still is).
    heavy = [
        context(0.9, "2026-W44", tasks=80, accepted=60),
        context(0.95, "2026-W45", tasks=80, accepted=60),
        context(3.1, "2026-W46", tasks=60, accepted=54),
    ]
    assert _jump(heavy, S.context_inflation) is None
    assert context_inflation(heavy, S.context_inflation)["pattern"] == "level"


# --- chat loops ---------------------------------------------------------------------------


def test_long_conversations_that_end_in_nothing_are_chat_loops():
    loops = [Conversation(turns=20, tokens=60_000, accepted=False) for _ in range(4)]
    evidence = chat_loops(loops, week_tokens=300_000, tasks=10, s=S.chat_loops)
    assert evidence is not None and evidence["loops"] == 4 and evidence["share"] == 0.8
    text = explain("chat_loops", evidence)
    assert "4 of your 10 conversations this week" in text and "ended with no accepted" in text


def test_long_conversations_that_produce_something_are_not_loops():
    accepted = [Conversation(turns=25, tokens=90_000, accepted=True) for _ in range(6)]
    assert chat_loops(accepted, 600_000, 10, S.chat_loops) is None
    short = [Conversation(turns=8, tokens=90_000, accepted=False) for _ in range(6)]
    assert chat_loops(short, 600_000, 10, S.chat_loops) is None


def test_a_few_fruitless_long_sessions_in_a_busy_week_are_not_loops():
    loops = [Conversation(turns=18, tokens=50_000, accepted=False) for _ in range(4)]
    assert chat_loops(loops, week_tokens=2_000_000, tasks=30, s=S.chat_loops) is None
    # a heavy user's unlucky fortnight: most tokens, but 4 in 60 conversations
    assert chat_loops(loops, week_tokens=300_000, tasks=60, s=S.chat_loops) is None


def loop_weeks(this_week: int, week_before: int, tasks: int = 5) -> WeekData:
    """A light user's two weeks: `tasks` conversations each, some of them long fruitless ones."""
    policy = load_policy()

    def one(key: str, loops: int) -> WeekData:
        return WeekData(
            week=week_by_key(policy.periods.zone, key),
            conversations={7: [Conversation(25, 90_000, False)] * loops},
            spend={7: loops * 90_000 + 5 * 8_000},
            tasks={7: tasks},
            plans={7: 400_000},
            people={7},
        )

    data = one("2026-W46", this_week)
    data.earlier = [one("2026-W45", week_before)]
    return data


def test_a_couple_of_loops_a_week_burning_most_of_it_are_caught_as_they_accumulate():
    settings = governance_settings(load_policy())
    (finding,) = [f for f in judge(loop_weeks(2, 2), settings) if f.misconduct]
    assert finding.detector == "chat_loops" and finding.evidence["weeks"] == 2
    assert finding.evidence["loops"] == 4 and finding.evidence["share"] > 0.5
    assert "in the 2 weeks from 2026-W45" in explain("chat_loops", finding.evidence)
    assert not [f for f in judge(loop_weeks(2, 0), settings) if f.misconduct]  # not yet


def test_one_long_debugging_session_a_week_that_ends_in_nothing_is_not_a_loop():
    settings = governance_settings(load_policy())
    assert not [f for f in judge(loop_weeks(1, 1), settings) if f.misconduct]


# --- output and prompt spam ---------------------------------------------------------------


def test_near_duplicate_groups_link_fingerprints_a_few_bits_apart():
    base = "0123456789abcdef"
    counts = {base: 2, flip(base, 1, 7): 1, flip(base, 1, 7, 30, 40): 1, "fedcba9876543210": 1}
    assert near_duplicate_groups(counts, max_distance=3) == [4, 1]
    assert near_duplicate_groups(counts, max_distance=0) == [2, 1, 1, 1]


@pytest.mark.parametrize("max_distance", [3, 6, 16])
def test_close_pairs_are_every_pair_within_the_distance(max_distance):
    rng = random.Random(max_distance)
    values = [rng.getrandbits(64) | (1 << 63)]  # a top bit set: all 64 bits are compared
    for _ in range(10):
        base = rng.getrandbits(64)
        for _ in range(8):
            near = base
            for bit in rng.sample(range(64), rng.randint(0, max_distance + 2)):
                near ^= 1 << bit
            values.append(near)
    values = list(dict.fromkeys(values))
    every = {
        (a, b)
        for a in range(len(values))
        for b in range(a + 1, len(values))
        if (values[a] ^ values[b]).bit_count() <= max_distance
    }
    assert set(close_pairs(values, max_distance)) == every and every


def test_groups_are_the_same_across_blocks_of_rows_as_within_one():
    rng = random.Random(3)
    bases = [rng.getrandbits(64) for _ in range(PAIR_BLOCK + 40)]
    counts = {f"{b:016x}": 1 for b in bases}
    for b in bases[-5:]:  # copies of the last rows, compared from the first block
        for _ in range(6):
            near = b
            for bit in rng.sample(range(64), 3):
                near ^= 1 << bit
            counts[f"{near:016x}"] = 1
    groups = near_duplicate_groups(counts, max_distance=6)
    assert groups[:5] == [7, 7, 7, 7, 7] and sum(groups) == len(counts) and groups[5] == 1


def test_many_near_copies_of_one_result_are_output_spam():
    base = "a1b2c3d4e5f60718"
    counts = {flip(base, i, i + 20): 1 for i in range(8)} | unrelated(12)
    evidence = output_spam(counts, artifacts=20, s=S.output_spam)
    assert evidence is not None and evidence["duplicates"] == 7 and evidence["share"] == 0.35
    assert "7 of your 20 results this week (35%) were near-copies" in explain(
        "output_spam", evidence
    )


def test_a_light_user_adding_a_few_near_copies_is_output_spam_and_a_faq_answer_is_not():
    base = "a1b2c3d4e5f60718"
    copies = {flip(base, 1): 1, flip(base, 5, 6): 1, flip(base, 30): 1}
    evidence = output_spam(copies | unrelated(4), artifacts=7, s=S.output_spam)
    assert evidence is not None and (evidence["duplicates"], evidence["share"]) == (2, 0.29)
    faq = {flip(base, 1): 1, flip(base, 5): 1}  # the same question answered twice
    assert output_spam(faq | unrelated(5), artifacts=7, s=S.output_spam) is None


def test_near_copies_made_for_little_are_copies_and_an_faq_answered_again_with_work_is_not():
    base = "a1b2c3d4e5f60718"
    group = [base, flip(base, 1), flip(base, 5, 6), flip(base, 30)]
    others = unrelated(8)
    honest = [("seo-brief", 7_000 + 500 * i) for i in range(8)]  # normal tasks: 8,000 tokens
    costs = {key: [made] for key, made in zip(others, honest, strict=True)}
    counts = dict.fromkeys(group, 1) | others
    baselines = {"seo-brief": BRIEFS}  # a normal task: 8,000 tokens

    def judged(copy_tokens: list[int]) -> dict | None:
        made = {key: [("seo-brief", n)] for key, n in zip(group, copy_tokens, strict=False)}
        return output_spam(
            counts, len(counts), S.output_spam, costs=costs | made, baselines=baselines
        )

    # The original took a task's work; three copies of it took a call of 400-600 tokens each.
    evidence = judged([8_000, 400, 500, 600])
    assert evidence is not None and (evidence["duplicates"], evidence["share"]) == (3, 0.25)
    assert (evidence["copy_tokens"], evidence["answered_again"]) == (500, 0)
    text = explain("output_spam", evidence)
    assert "3 of your 12 results this week (25%) were near-copies" in text
    assert "each made for under 25% of a normal task's tokens" in text
    assert "its conversation or the call it names, took 500 tokens, typically" in text
    # None of the four took a task's work: no original among them, all four count.
    evidence = judged([600, 400, 500, 600])
    assert evidence is not None and (evidence["duplicates"], evidence["copy_tokens"]) == (4, 550)
    # The same question answered four times, each with a normal task's work: an FAQ, no flag.
    assert judged([8_000, 6_000, 7_500, 9_000]) is None
    # Two answered with work and two pasted: the pasted ones alone are 2 of 12 (17%), no flag;
    # one more pasted copy makes it 3 of 13, and the answer given again is named, not counted.
    assert judged([8_000, 6_000, 400, 500]) is None
    group.append(flip(base, 40))
    counts[group[-1]] = 1
    evidence = judged([8_000, 6_000, 400, 500, 300])
    assert evidence is not None and (evidence["duplicates"], evidence["answered_again"]) == (3, 1)
    assert "1 more near-copy took a normal task's work, an answer given again, and does not" in (
        explain("output_spam", evidence)
    )


def test_a_few_similar_answers_among_many_results_are_not_spam():
    base = "a1b2c3d4e5f60718"
    counts = {flip(base, 3): 1, flip(base, 9): 1, base: 1} | unrelated(29)
    assert output_spam(counts, artifacts=32, s=S.output_spam) is None


def test_the_same_prompt_over_and_over_is_prompt_spam_and_retries_are_not():
    spam = {"00000000000000ff": 30} | unrelated(40)
    evidence = prompt_spam(spam, calls=70, s=S.prompt_spam)
    assert evidence is not None and evidence["repeats"] == 30
    assert "The same prompt was sent afresh 30 times" in explain("prompt_spam", evidence)
    # counts are separate tasks: retries within a conversation count once
    retries = {fingerprint: 1 for fingerprint in unrelated(24)}
    assert prompt_spam(retries, calls=72, s=S.prompt_spam) is None


def test_a_light_user_resending_one_prompt_is_prompt_spam_and_a_light_retrier_is_not():
    evidence = prompt_spam({"00000000000000ff": 6} | unrelated(9), calls=15, s=S.prompt_spam)
    assert evidence is not None and evidence["share"] == 0.4
    retrier = {"00000000000000ff": 1} | unrelated(9)  # one prompt retried 5 times in one task
    assert prompt_spam(retrier, calls=15, s=S.prompt_spam) is None


# --- task splitting -----------------------------------------------------------------------


BRIEF_BASELINES = {"seo-brief": BRIEFS}


def test_bursts_of_results_that_cost_one_task_between_them_are_split_work():
    bursts = {"seo-brief": [Burst(artifacts=5, tokens=9_000), Burst(artifacts=6, tokens=10_000)]}
    evidence = task_splitting(bursts, BRIEF_BASELINES, 40, S.task_splitting)
    assert evidence is not None and evidence["bursts"] == 2 and evidence["tasks_in_bursts"] == 11
    text = explain("task_splitting", evidence)
    assert "11 of your 40 results this week (28%) came in 2 bursts" in text
    assert "Flagged from 2 such bursts, or one holding 30% of the results." in text


def test_a_quick_batch_of_complete_tasks_is_not_splitting():
    batches = {"seo-brief": [Burst(artifacts=5, tokens=38_000), Burst(artifacts=4, tokens=30_000)]}
    assert task_splitting(batches, BRIEF_BASELINES, 9, S.task_splitting) is None


def test_one_task_cut_into_pieces_is_flagged_when_it_is_much_of_the_week_not_in_a_heavy_one():
    one = {"seo-brief": [Burst(6, 9_000)]}  # one task's worth of tokens, six results
    light = task_splitting(one, BRIEF_BASELINES, 9, S.task_splitting)
    assert light is not None and light["bursts"] == 1 and light["share"] == 0.67
    assert "6 of your 9 results this week (67%) came in 1 burst," in explain(
        "task_splitting", light
    )
    assert task_splitting(one, BRIEF_BASELINES, 40, S.task_splitting) is None  # 15% of the week


def test_split_bursts_count_together_across_use_cases_each_against_its_own_baseline():
    ads = UseCaseBaseline("ad-copy", person_weeks=30, input_per_task=800, tokens_per_task=3_000)
    bursts = {"seo-brief": [Burst(5, 9_000)], "ad-copy": [Burst(4, 3_000), Burst(4, 12_000)]}
    evidence = task_splitting(bursts, {**BRIEF_BASELINES, "ad-copy": ads}, 40, S.task_splitting)
    # seo-brief's burst and ad-copy's cheap one are split; ad-copy's costly one is 4 whole tasks
    assert evidence is not None and evidence["bursts"] == 2 and evidence["tasks_in_bursts"] == 9
    assert evidence["use_case"] == "seo-brief"


def test_an_ordinary_user_splitting_a_task_a_week_is_caught_over_two_weeks_and_a_batcher_is_not():
    policy = load_policy()
    settings = governance_settings(policy)

    def weeks(this_week: list[Burst], week_before: list[Burst]) -> WeekData:
        def one(key: str, bursts: list[Burst]) -> WeekData:
            return WeekData(
                week=week_by_key(policy.periods.zone, key),
                baselines=BRIEF_BASELINES,
                bursts={7: {"seo-brief": bursts}},
                artifacts={7: 20},
                plans={7: 400_000},
                people={7},
            )

        data = one("2026-W46", this_week)
        data.earlier = [one("2026-W45", week_before)]
        return data

    split = [Burst(5, 9_000)]  # one task's worth of tokens cut into 5 of the week's 20 results
    (finding,) = [f for f in judge(weeks(split, split), settings) if f.misconduct]
    assert finding.detector == "task_splitting" and finding.evidence["weeks"] == 2
    assert finding.evidence["tasks_in_bursts"] == 10 and finding.evidence["results"] == 40
    batches = [Burst(4, 30_000)]  # four whole tasks minutes apart, each week
    assert not [f for f in judge(weeks(batches, batches), settings) if f.misconduct]


# --- reports and the judge ----------------------------------------------------------------


def test_overspend_and_underuse_are_reported_against_plan():
    assert overspend(130_000, 100_000, 0.25) == {
        "used": 130_000,
        "planned": 100_000,
        "variance": 0.3,
    }
    assert overspend(120_000, 100_000, 0.25) is None
    assert underuse(15_000, 100_000, 0.2)["share_used"] == 0.15
    assert underuse(25_000, 100_000, 0.2) is None
    assert "Used 15,000 tokens of a planned 100,000 (15%)" in explain(
        "underuse", underuse(15_000, 100_000, 0.2)
    )


def test_a_pattern_flagged_the_week_before_is_judged_on_eased_thresholds():
    policy = load_policy()
    data = WeekData(
        week=week_by_key(policy.periods.zone, "2026-W46"),
        history={7: {"seo-brief": [week(median_input=4_600)]}},
        baselines={"seo-brief": BRIEFS},
        plans={7: 400_000},
        spend={7: 80_000},
        people={7},
    )
    settings = governance_settings(policy)
    assert not [f for f in judge(data, settings) if f.misconduct]
    data = replace(data, continuing={(7, "context_inflation")})
    (finding,) = [f for f in judge(data, settings) if f.misconduct]
    assert finding.detector == "context_inflation" and finding.evidence["continuing"] is True
    assert "continues a pattern flagged in the weeks just before" in explain(
        finding.detector, finding.evidence
    )
