"""GroundTruth from a record: the kind, the facts to tell, the reads and distractors; JSON both ways (what a verl
reward function rebuilds), records without a task, and how a fact is recognised in an answer."""

from __future__ import annotations

import json

from synthesizer.data.ground_truth import GroundTruth, ToldFact
from tests.synthesizer.data.test_export import irrelevance_record, missing_info_record, parallel_record


def test_from_a_record_with_a_task() -> None:
    t = parallel_record()
    gt = GroundTruth.from_trajectory(t)
    assert gt.kind == "normal" and not gt.missing_info and not gt.irrelevance
    assert [(f.slot, f.said, f.value) for f in gt.communicate] == [("capacity", "12", 12)]
    assert gt.read_only_tools == ["calendar__get_calendar"] and gt.distractors == [] and not gt.lookup_only
    assert GroundTruth.model_validate_json(gt.model_dump_json()) == gt
    more = GroundTruth.from_trajectory(t, read_only_tools=["calendar__list_events"])
    assert more.read_only_tools == ["calendar__get_calendar", "calendar__list_events"]
    with_distractors = t.model_copy(update={"kind": "distractors", "distractors": ["shop__list_products"]})
    assert GroundTruth.from_trajectory(with_distractors).distractors == ["shop__list_products"]


def test_kind_flags_are_in_the_json() -> None:
    for t, flags in ((irrelevance_record(), (True, False)), (missing_info_record(), (False, True))):
        doc = json.loads(GroundTruth.from_trajectory(t).model_dump_json())
        assert (doc["kind"], doc["irrelevance"], doc["missing_info"]) == (t.kind, *flags)
        assert GroundTruth.model_validate_json(json.dumps(doc)).kind == t.kind


def test_records_before_tasks_and_old_ground_truth_json() -> None:
    legacy = parallel_record().model_copy(update={"task": None})
    gt = GroundTruth.from_trajectory(legacy)
    assert gt.communicate == [] and not gt.lookup_only
    old = {"calls": [c.model_dump() for c in gt.calls], "expected_state_hashes": {"calendar": None}, "tools": []}
    rebuilt = GroundTruth.model_validate(old)
    assert rebuilt.kind == "normal" and rebuilt.communicate == [] and rebuilt.read_only_tools == []


def test_a_fact_is_told_as_whole_words_in_any_case_with_or_without_quotes() -> None:
    seats = ToldFact(slot="capacity", said="12", value=12)
    assert seats.told_in("Boardroom 7.01 seats 12.") and seats.told_in("12 people fit")
    assert not seats.told_in("It seats 120.") and not seats.told_in("room 7.012")
    title = ToldFact(slot="event title", said='"1:1 Priya / Marcus"', value="1:1 Priya / Marcus")
    assert title.told_in('You have "1:1 Priya / Marcus" tomorrow') and title.told_in("the 1:1  priya / marcus")
    status = ToldFact(slot="order status", said="shipped", value="SHIPPED")
    assert status.told_in("It was Shipped yesterday") and not status.told_in("unshipped")
    when = ToldFact(slot="departure", said="March 2", value="2026-03-02T10:00:00Z")
    assert when.told_in("You leave on March 2.") and when.told_in("departs 2026-03-02T10:00:00Z")
    assert not when.told_in("You leave on March 20.")
    assert not ToldFact(slot="flag", said="", value=True).told_in("True")
