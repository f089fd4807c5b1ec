"""Call matching, the State diff, the control-plane client and the reward, the latter against a real farm on loopback:
a gold plan run in one episode, replayed in fresh ones (exactly, and with a wrong argument)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from servers.farm.app import FarmSettings
from synthesizer.data.ground_truth import GroundTruth
from synthesizer.data.records import Fact, Feed, PlanCall, qualified, split_qualified
from synthesizer.discovery.controlplane import ControlPlane, state_diff
from synthesizer.discovery.fastclient import RolloutClient
from synthesizer.errors import SynthError
from synthesizer.rollout.callmatch import MadeCall, match_calls, match_details, values_equal
from synthesizer.rollout.reward import P_EXTRA, P_MALFORMED, W_CALLS, W_STATE, W_TOLD, score_calls, score_episode
from tests.conftest import free_port
from tests.servers.farm.test_farm import TOKEN, ThreadedFarm, start_farm

EPISODE, SCENARIO = "envfactory/episode", "envfactory/scenario"
RETRO = {"calendar_id": "cal_0002", "title": "Release retro", "start": "2026-03-11T15:00:00Z",
         "end": "2026-03-11T15:30:00Z"}


def plan_call(step: int, tool: str, args: dict[str, Any], **kw: Any) -> PlanCall:
    return PlanCall(step=step, server="calendar", tool=tool, name=qualified("calendar", tool), arguments=args, **kw)


def made(tool: str, args: dict[str, Any] | None, error: bool = False) -> MadeCall:
    return MadeCall(name=qualified("calendar", tool), arguments=args, raw=None if args is None else str(args),
                    error=error)


def gold_plan(list_required: bool = False) -> list[PlanCall]:
    return [plan_call(0, "list_calendars", {}, read_only=True, required=list_required),
            plan_call(1, "create_event", {**RETRO, "description": "Agenda"}, free=["description"],
                      depends=[Feed(src=0, field="calendars[].id", param="calendar_id")])]


# --- call matching ---------------------------------------------------------------------------------------------------


def test_free_arguments_may_differ_or_be_absent() -> None:
    for args in ({**RETRO, "description": "Something else"}, RETRO, {**RETRO, "description": None}):
        check = match_calls(gold_plan(), [made("list_calendars", {}), made("create_event", args)])
        assert check.matched and check.extra == [] and check.malformed == 0, check


def test_a_wrong_argument_is_named() -> None:
    check = match_calls(gold_plan(), [made("create_event", {**RETRO, "title": "Release retrospective"})])
    assert not check.matched and check.missing == [] and check.extra == []
    assert check.mismatched == ['calendar__create_event: title: expected "Release retro", got "Release retrospective"']
    check = match_calls(gold_plan(), [made("create_event", {k: v for k, v in RETRO.items() if k != "end"})])
    assert check.mismatched == ['calendar__create_event: end: expected "2026-03-11T15:30:00Z", got nothing']


def test_missing_calls_are_listed_with_their_arguments() -> None:
    check = match_calls(gold_plan(list_required=True), [made("list_calendars", {})])
    assert not check.matched and check.mismatched == []
    assert check.missing == ['calendar__create_event(calendar_id="cal_0002", description=*, '
                             'end="2026-03-11T15:30:00Z", start="2026-03-11T15:00:00Z", title="Release retro")']


def test_extra_writes_are_listed_and_reads_tolerated() -> None:
    calls = [made("list_calendars", {}), made("list_calendars", {"limit": 5}), made("get_calendar", {"calendar_id":
             "cal_0003"}), made("create_event", RETRO), made("cancel_event", {"event_id": "evt_0001"})]
    m = match_details(gold_plan(), calls, read_only={"calendar__get_calendar"})
    assert m.check.matched and m.check.extra == ['calendar__cancel_event(event_id="evt_0001")']
    assert m.tolerated == ["calendar__list_calendars()", "calendar__list_calendars(limit=5)",
                           'calendar__get_calendar(calendar_id="cal_0003")']
    # without knowing get_calendar is a read, it is an extra call too
    assert len(match_calls(gold_plan(), calls).extra) == 2
    # a second create_event is an extra write even though the tool is in the plan
    twice = match_calls(gold_plan(), [made("create_event", RETRO), made("create_event", RETRO)])
    assert twice.matched and twice.extra == ['calendar__create_event(calendar_id="cal_0002", '
                                             'end="2026-03-11T15:30:00Z", start="2026-03-11T15:00:00Z", '
                                             'title="Release retro")']


def test_malformed_calls_are_counted_not_matched() -> None:
    known = {qualified("calendar", t) for t in ("list_calendars", "create_event", "cancel_event")}
    calls = [made("create_event", None), MadeCall(name="calendar__book_meeting", arguments=RETRO),
             MadeCall(name="create_event", arguments=RETRO)]
    check = match_calls(gold_plan(), calls, known=known)
    assert check.malformed == 3 and check.extra == [] and not check.matched and len(check.missing) == 1
    assert match_calls(gold_plan(), [*calls, made("create_event", RETRO)], known=known).matched


def test_order_only_matters_along_dependencies() -> None:
    plan = gold_plan(list_required=True)
    ok = [made("list_calendars", {}), made("create_event", RETRO)]
    assert match_calls(plan, ok).matched
    check = match_calls(plan, ok[::-1])
    assert check.mismatched == ["calendar__create_event: made before the call it depends on "
                                "(calendar__list_calendars)"] and check.missing == []
    # independent calls: any order; two calls of one tool are told apart by their arguments
    a, b = {**RETRO, "title": "A"}, {**RETRO, "title": "B", "start": "2026-03-12T15:00:00Z"}
    plan = [plan_call(0, "create_event", a), plan_call(1, "create_event", b)]
    assert match_calls(plan, [made("create_event", b), made("create_event", a)]).matched
    # a later call can feed on an earlier one even when an unrelated call sits between them
    assert match_calls(gold_plan(True), [made("list_calendars", {}), made("get_event", {"event_id": "e"}),
                                         made("create_event", RETRO)]).matched


def test_failed_calls_never_match() -> None:
    m = match_details(gold_plan(), [made("create_event", RETRO, error=True)])
    assert not m.check.matched and len(m.check.missing) == 1 and m.check.extra == [] and len(m.errored) == 1
    assert match_calls(gold_plan(), [made("create_event", RETRO, error=True), made("create_event", RETRO)]).matched


def test_value_normalisation() -> None:
    assert values_equal(1, 1.0) and values_equal(" Release retro ", "Release retro")
    assert values_equal({"a": [1, {"b": "x"}], "c": 2}, {"c": 2.0, "a": [1.0, {"b": " x"}]})
    assert not values_equal(True, 1) and not values_equal([1, 2], [2, 1]) and not values_equal("1", 1)
    assert not values_equal({"a": 1}, {"a": 1, "b": None}) and not values_equal(None, "")
    plan = [plan_call(0, "list_events", {"calendar_id": "cal_0001", "limit": 20})]
    assert match_calls(plan, [made("list_events", {"limit": 20.0, "calendar_id": "cal_0001 ", "cursor": None})]).matched
    check = match_calls(plan, [made("list_events", {"limit": 20, "calendar_id": "cal_0001", "cursor": "cur_20"})])
    assert check.mismatched == ['calendar__list_events: cursor: expected nothing, got "cur_20"']


# --- State diff ------------------------------------------------------------------------------------------------------


def test_state_diff_lines() -> None:
    expected = {"orders": {"ord_0003": {"status": "paid", "items": [1, 2]}}, "events": {"evt_0001": {}}, "n": 1}
    actual = {"orders": {"ord_0003": {"status": "cancelled", "items": [1, 3]}}, "carts": {"cart_0002": {"x": 1}},
              "n": 1}
    assert state_diff(expected, actual) == ["carts: added", "events: removed", 'orders.ord_0003.items[1]: 2 -> 3',
                                            'orders.ord_0003.status: "paid" -> "cancelled"']
    assert state_diff({"c": {"cart_0002": 1}}, {"c": {}}) == ["c.cart_0002: removed"]
    assert state_diff({"xs": [1]}, {"xs": [1, 2]}) == ["xs: 1 items -> 2 items"]
    assert state_diff(expected, expected) == []
    many = state_diff({f"k{i:02d}": i for i in range(30)}, {}, limit=5)
    assert many[:5] == [f"k{i:02d}: removed" for i in range(5)] and many[5] == "... 25 more" and len(many) == 6


# --- the pure reward -------------------------------------------------------------------------------------------------


def test_score_calls_weights_and_clipping() -> None:
    gt = GroundTruth.from_plan(gold_plan(list_required=True), {"calendar": None},
                               tools=["calendar__list_calendars", "calendar__create_event", "calendar__cancel_event"])
    gold = [made("list_calendars", {}), made("create_event", RETRO)]
    perfect = score_calls(gt, gold)
    assert (perfect.total, perfect.state_match, perfect.call_match) == (1.0, None, 1.0)
    extra = score_calls(gt, [*gold, made("cancel_event", {"event_id": "evt_0001"})])
    assert extra.extra_penalty == P_EXTRA and extra.total == pytest.approx(1 - P_EXTRA)
    half = score_calls(gt, [gold[0], made("create_event", {**RETRO, "title": "x"}), made("create_event", None)])
    assert half.call_match == 0.5 and half.malformed_penalty == P_MALFORMED
    assert half.total == pytest.approx(0.5 - P_MALFORMED)
    assert any("title: expected" in line for line in half.explanation)
    assert score_calls(gt, [made("create_event", None)] * 5).total == 0.0
    assert W_STATE + W_CALLS + W_TOLD == 1.0


# --- against a real farm ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def farm_url() -> Iterator[str]:
    server: ThreadedFarm
    server, _ = start_farm(FarmSettings(token=TOKEN))
    try:
        yield server.url
    finally:
        server.stop()


async def run_calls(client: RolloutClient, calls: list[tuple[str, dict[str, Any]]],
                    meta: dict[str, Any] | None = None) -> tuple[list[MadeCall], list[Any]]:
    """Call each (namespaced name, arguments) on the server; what the reward sees, and the structured outputs."""
    made_calls, outputs = [], []
    for name, args in calls:
        result = await client.call_tool(split_qualified(name)[1], args, meta=meta)
        made_calls.append(MadeCall(name=name, arguments=args, raw=str(args), error=result.is_error))
        outputs.append(result.structured_content)
    return made_calls, outputs


async def test_reward_of_gold_and_wrong_replays_on_the_farm(farm_url: str) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        cp = ControlPlane(farm_url, token=TOKEN, http=http)
        # the gold run: an episode named by the client in _meta on the shared endpoint, fed by a real output
        gold_id = f"gold-{os.getpid()}"
        shared = RolloutClient(f"{farm_url}/envs/calendar/mcp", http=http, token=TOKEN)
        meta = {EPISODE: gold_id, SCENARIO: "typical"}
        _, (listed,) = await run_calls(shared, [("calendar__list_calendars", {})], meta)
        team = next(c["id"] for c in listed["calendars"] if c["name"] == "Platform Team")
        create = {**RETRO, "calendar_id": team}
        _, (created,) = await run_calls(shared, [("calendar__create_event", create)], meta)
        event_id = created["event"]["id"]
        expected_state, expected_hash = await cp.state(gold_id)
        assert expected_state["events"][event_id]["title"] == "Release retro"
        plan = [plan_call(0, "list_calendars", {}, output=listed, read_only=True),
                plan_call(1, "create_event", create, output=created,
                          depends=[Feed(src=0, field="calendars[].id", param="calendar_id")])]
        gt = GroundTruth.from_plan(plan, {"calendar": expected_hash},
                                   tools=["calendar__list_calendars", "calendar__create_event"])
        gold_calls = [("calendar__list_calendars", {}), ("calendar__create_event", create)]

        # the gold calls replayed in a fresh episode (by its URL): exactly 1.0
        fresh = await cp.create_episode("calendar", "typical")
        calls, _ = await run_calls(RolloutClient(fresh["mcp_url"], http=http, token=TOKEN), gold_calls)
        score = await score_episode(gt, calls, {"calendar": fresh["id"]}, cp, {"calendar": expected_state})
        assert (score.total, score.state_match, score.call_match) == (1.0, 1.0, 1.0), score.explanation
        assert (score.extra_penalty, score.malformed_penalty) == (0.0, 0.0)
        assert score.explanation[0] == (f"state: calendar: final State hash {expected_hash[:12]} matches the "
                                        "expected one")
        assert "calls: 2/2 required calls matched exactly" in score.explanation
        assert any(x.startswith('matched: calendar__create_event(calendar_id="cal_0002"') for x in score.explanation)
        assert score.explanation[-1].endswith("= 1")
        # with a fact to tell, the final answer is the third component, beside State and calls
        told = GroundTruth.from_plan(plan, {"calendar": expected_hash}, tools=gt.tools,
                                     communicate=[Fact(slot="calendar name", value="Platform Team",
                                                       said="Platform Team")])
        score = await score_episode(told, calls, {"calendar": fresh["id"]}, cp,
                                    final_text="Booked the Release retro on Platform Team.")
        assert (score.total, score.state_match, score.told) == (1.0, 1.0, 1.0), score.explanation
        score = await score_episode(told, calls, {"calendar": fresh["id"]}, cp, final_text="Done.")
        assert score.told == 0.0 and score.total == pytest.approx(W_STATE + W_CALLS)

        # another title: the State differs (and says where), the call is mismatched (and says how)
        wrong = await cp.create_episode("calendar", "typical")
        bad = [gold_calls[0], ("calendar__create_event", {**create, "title": "Release retrospective"})]
        calls, _ = await run_calls(RolloutClient(wrong["mcp_url"], http=http, token=TOKEN), bad)
        score = await score_episode(gt, calls, {"calendar": wrong["id"]}, cp, {"calendar": expected_state})
        assert score.state_match == 0.0 and score.call_match == 0.5
        # nothing to tell: state and calls share the whole weight
        assert score.total == pytest.approx(W_CALLS * 0.5 / (W_STATE + W_CALLS)) and score.total < 1.0
        assert ('mismatched: calendar__create_event: title: expected "Release retro", got "Release retrospective"'
                in score.explanation)
        assert (f'state diff: calendar: events.{event_id}.title: "Release retro" -> "Release retrospective"'
                in score.explanation)
        assert any(x.startswith("state: calendar: final State hash") and "differs" in x for x in score.explanation)

        # without the expected States the hash still decides, with no diff lines
        score = await score_episode(gt, calls, {"calendar": wrong["id"]}, cp)
        assert score.state_match == 0.0 and not any(x.startswith("state diff") for x in score.explanation)
        with pytest.raises(SynthError, match="no episode given for server"):
            await score_episode(gt, calls, {}, cp)
        for ep in (gold_id, fresh["id"], wrong["id"]):
            await cp.delete(ep)


async def test_control_plane_client(farm_url: str) -> None:
    async with ControlPlane(farm_url, token=TOKEN) as cp:
        before = len((await _episodes(farm_url))["episodes"])
        state = await cp.scenario_state("calendar", "typical")
        assert state["now"] == "2026-03-02T08:30:00Z" and "cal_0002" in state["calendars"]
        assert len((await _episodes(farm_url))["episodes"]) == before, "the temporary episode is deleted"
        info = await cp.create_episode("calendar", state={**state, "events": {}}, seed=3)
        assert info["explicit_state"] and info["seed"] == 3 and info["mcp_url"].endswith(f"/episodes/{info['id']}/mcp")
        got, digest = await cp.state(info["id"])
        assert got["events"] == {} and digest == info["state_hash"]
        await cp.delete(info["id"])
        with pytest.raises(SynthError, match=rf"^farm control plane: GET {farm_url}/api/episodes/{info['id']}/state: "
                                             rf"HTTP 404: unknown episode"):
            await cp.state(info["id"])
        with pytest.raises(SynthError, match=r"POST .*/api/episodes: HTTP 404: unknown scenario"):
            await cp.create_episode("calendar", "nope")
        assert {e["name"] for e in await cp.envs()} >= {"calendar", "notes"}
    async with ControlPlane(farm_url, token="wrong") as cp:
        with pytest.raises(SynthError, match=rf"GET {farm_url}/api/envs: HTTP 401: missing or wrong bearer token"):
            await cp.envs()
    closed = f"http://127.0.0.1:{free_port()}"
    async with ControlPlane(closed) as cp:
        with pytest.raises(SynthError, match=rf"^farm control plane: DELETE {closed}/api/episodes/x: "
                                             "connection refused"):
            await cp.delete("x")
    with pytest.raises(SynthError, match="not an http"):
        ControlPlane("ftp://farm")


async def _episodes(farm_url: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        return (await http.get(f"{farm_url}/api/episodes")).json()
