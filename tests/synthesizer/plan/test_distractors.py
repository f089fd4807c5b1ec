"""Distractors are the other server's tools most easily taken for the plan's, not a random server's tool list."""

from __future__ import annotations

import json
import random
from pathlib import Path

from synthesizer.discovery.tools import ToolInfo
from synthesizer.plan.distractors import confusable_distractors, profile, similarity

ROOT = Path(__file__).resolve().parents[3]


def env_tools(name: str) -> list[ToolInfo]:
    spec = json.loads((ROOT / "environments" / name / "env.json").read_text(encoding="utf-8"))
    return [ToolInfo(name=t["name"], description=t.get("description", ""), input_schema=t["input_schema"])
            for t in spec["tools"]]


AGENDA = [
    ToolInfo(name="get_weather", description="Current weather for a city."),
    ToolInfo(name="delete_meeting", description="Delete a meeting from the agenda."),
    ToolInfo(name="load_scenario", description="Load a named scenario into the server."),
    ToolInfo(name="createMeeting", description="Create a meeting event on a calendar at a start time."),
    ToolInfo(name="list_meetings", description="List the calendar events (meetings) between two dates."),
    ToolInfo(name="play_song", description="Play a song."),
]
MUSIC = [ToolInfo(name="play_song", description="Play a song by title."),
         ToolInfo(name="list_playlists", description="List the user's playlists."),
         ToolInfo(name="add_to_playlist", description="Add a song to a playlist.")]


def test_the_most_confusable_server_and_tools_come_first() -> None:
    known = {f"calendar__{t.name}": t for t in env_tools("calendar")}
    plan = ["calendar__create_event", "calendar__list_events"]
    others = {"music": MUSIC, "agenda": AGENDA, "shop": env_tools("shop")}
    for seed in range(5):
        got = confusable_distractors(plan, others, random.Random(seed), 4, known)
        assert got[:2] == ["agenda__createMeeting", "agenda__list_meetings"], got
        assert "agenda__load_scenario" not in got  # a control tool is never a distractor
        assert 3 <= len(got) <= 4 and all(q.startswith("agenda__") for q in got)


def test_deterministic_given_the_rng_and_bounded() -> None:
    known = {f"shop__{t.name}": t for t in env_tools("shop")}
    others = {"calendar": env_tools("calendar"), "travel": env_tools("travel")}
    a = confusable_distractors(["shop__cancel_order"], others, random.Random(7), 5, known)
    assert a == confusable_distractors(["shop__cancel_order"], others, random.Random(7), 5, known)
    assert len(a) == 5 and len(set(a)) == 5
    assert a[0] in ("calendar__cancel_event", "travel__cancel_booking")  # the same verb on a like resource
    assert len(confusable_distractors(["shop__cancel_order"], others, random.Random(7), 1, known)) == 3  # at least 3
    small = {"music": MUSIC[:2]}
    assert len(confusable_distractors(["shop__cancel_order"], small, random.Random(0), 5, known)) == 2
    assert confusable_distractors(["shop__cancel_order"], {}, random.Random(0), 5, known) == []


def test_similarity_prefers_same_verb_and_resource() -> None:
    create_event = profile(ToolInfo(name="create_event", description="Create an event on a calendar."))
    add_event = profile(ToolInfo(name="addEvent", description="Add an event to the calendar."))
    delete_event = profile(ToolInfo(name="delete_event", description="Delete an event."))
    play = profile(ToolInfo(name="play_song", description="Play a song."))
    assert similarity(create_event, add_event) > similarity(create_event, delete_event) > similarity(create_event,
                                                                                                      play)
    assert similarity(create_event, play) == 0.0
