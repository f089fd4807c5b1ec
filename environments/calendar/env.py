"""Calendars, events and attendees: scheduling within working hours, double-booking rules and invitations.

All times are UTC. Tools accept ISO-8601 date-times; a value with an offset (+02:00) is converted to UTC and a
value without one is read as UTC. Outputs always use the form 2026-03-02T10:00:00Z. Working hours are
09:00-17:00 UTC, Monday to Friday.
"""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from registry.contract import EnvState, ToolError

WORKDAY_START = time(9, 0)
WORKDAY_END = time(17, 0)
SLOT_GRANULARITY_MINUTES = 15
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099
MAX_TITLE_LENGTH = 200
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURSOR = re.compile(r"cur_([0-9]{1,6})")

Response = Literal["needs_action", "accepted", "declined", "tentative"]
Answer = Literal["accepted", "declined", "tentative"]
Status = Literal["confirmed", "cancelled"]


# --------------------------------------------------------------------------------------------------------- State


class Calendar(BaseModel):
    id: str
    name: str
    owner_email: str = Field(description="Organizer of the events created on this calendar.")
    description: str = ""
    read_only: bool = Field(False, description="Shared calendars (e.g. public holidays) that reject every write.")
    allow_overlap: bool = Field(True, description="False: confirmed events on this calendar may not overlap.")
    max_attendees: int = Field(50, ge=1, description="Most attendees one event on this calendar may have.")


class Attendee(BaseModel):
    email: str
    name: str = ""
    response: Response = "needs_action"


class Event(BaseModel):
    id: str
    calendar_id: str
    title: str
    start: str = Field(description="UTC, ISO-8601 (2026-03-02T10:00:00Z).")
    end: str = Field(description="UTC, ISO-8601; strictly after start.")
    location: str = ""
    description: str = ""
    status: Status = "confirmed"
    organizer_email: str
    attendees: list[Attendee] = Field(default_factory=list)
    created_at: str
    updated_at: str

    @field_validator("start", "end", "created_at", "updated_at")
    @classmethod
    def _utc_timestamp(cls, value: str) -> str:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() != timedelta(0):
            raise ValueError("must be a UTC timestamp such as 2026-03-02T10:00:00Z")
        return value


class State(EnvState):
    calendars: dict[str, Calendar] = Field(default_factory=dict, description="Calendars keyed by id (cal_XXXX).")
    events: dict[str, Event] = Field(default_factory=dict, description="Events keyed by id (evt_XXXX).")


# ------------------------------------------------------------------------------------------------------- helpers


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stored(value: str) -> datetime:
    """A timestamp already in the State (validated UTC)."""
    return datetime.fromisoformat(value).astimezone(UTC)


def _now(state: State) -> datetime:
    return _stored(state.now)


def _parse_time(value: str, field: str) -> datetime:
    """An input date-time as an aware UTC datetime, whole seconds; a ToolError that shows the expected form."""
    text = value.strip()
    hint = f"{field} must be an ISO-8601 date-time such as 2026-03-02T10:00:00Z, got {value!r}"
    if not _DATETIME.fullmatch(text):
        raise ToolError(hint)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ToolError(hint) from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise ToolError(f"{field} {value!r} is outside the supported years {EARLIEST_YEAR}-{LATEST_YEAR}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def _parse_date(value: str, field: str) -> date:
    hint = f"{field} must be a date in the form YYYY-MM-DD such as 2026-03-04, got {value!r}"
    if not _DATE.fullmatch(value.strip()):
        raise ToolError(hint)
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise ToolError(hint) from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise ToolError(f"{field} {value!r} is outside the supported years {EARLIEST_YEAR}-{LATEST_YEAR}")
    return parsed


def _clean_title(title: str) -> str:
    cleaned = title.strip()
    if not cleaned:
        raise ToolError("title must not be blank")
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise ToolError(f"title is {len(cleaned)} characters long; the limit is {MAX_TITLE_LENGTH}")
    return cleaned


def _clean_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not _EMAIL.fullmatch(cleaned):
        raise ToolError(f"{email!r} is not a valid email address (expected name@example.com)")
    return cleaned


def _page(items: list, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """One page of `items` and the cursor of the next page (None on the last page)."""
    offset = 0
    if cursor is not None:
        match = _CURSOR.fullmatch(cursor)
        if match is None or not 0 < int(match.group(1)) < len(items):
            raise ToolError(
                f"Unknown cursor {cursor!r}: pass the next_cursor of the previous page unchanged, "
                "or omit cursor to start from the first page"
            )
        offset = int(match.group(1))
    end = offset + limit
    return items[offset:end], (f"cur_{end}" if end < len(items) else None)


def _calendar(state: State, calendar_id: str) -> Calendar:
    calendar = state.calendars.get(calendar_id)
    if calendar is None:
        raise ToolError(f"No calendar with id {calendar_id!r}; list_calendars returns the valid ids")
    return calendar


def _writable_calendar(state: State, calendar_id: str) -> Calendar:
    calendar = _calendar(state, calendar_id)
    if calendar.read_only:
        raise ToolError(
            f"Calendar {calendar.name!r} ({calendar.id}) is read-only; its events cannot be created or changed. "
            "Use a calendar with read_only false"
        )
    return calendar


def _event(state: State, event_id: str) -> Event:
    event = state.events.get(event_id)
    if event is None:
        raise ToolError(f"No event with id {event_id!r}; list_events returns the event ids of a calendar")
    return event


def _changeable_event(state: State, event_id: str) -> tuple[Event, Calendar]:
    """An event that may still be written: on a writable calendar, not cancelled, not over."""
    event = _event(state, event_id)
    calendar = _writable_calendar(state, event.calendar_id)
    if event.status == "cancelled":
        raise ToolError(f"Event {event.id} {event.title!r} is cancelled; cancelled events cannot be changed")
    if _stored(event.end) <= _now(state):
        raise ToolError(
            f"Event {event.id} {event.title!r} already ended at {event.end} (now is {state.now}); "
            "past events cannot be changed"
        )
    return event, calendar


def _conflicts(state: State, calendar: Calendar, start: datetime, end: datetime, ignore: str = "") -> list[Event]:
    """Confirmed events of `calendar` that overlap [start, end); back-to-back events do not overlap."""
    found = [
        e
        for e in state.events.values()
        if e.calendar_id == calendar.id
        and e.status == "confirmed"
        and e.id != ignore
        and _stored(e.start) < end
        and start < _stored(e.end)
    ]
    return sorted(found, key=lambda e: (e.start, e.id))


def _check_overlap(state: State, calendar: Calendar, start: datetime, end: datetime, ignore: str = "") -> None:
    if calendar.allow_overlap:
        return
    clashes = _conflicts(state, calendar, start, end, ignore)
    if clashes:
        listed = "; ".join(f"{e.id} {e.title!r} {e.start} to {e.end}" for e in clashes)
        raise ToolError(
            f"Calendar {calendar.name!r} ({calendar.id}) does not allow double-booking and {_fmt(start)} to "
            f"{_fmt(end)} overlaps: {listed}. Choose another time (find_free_slots lists open times)"
        )


def _attendee(event: Event, email: str) -> Attendee:
    for attendee in event.attendees:
        if attendee.email == email:
            return attendee
    invited = ", ".join(a.email for a in event.attendees) or "nobody"
    raise ToolError(f"{email} is not an attendee of event {event.id}; attendees: {invited}")


def _event_view(event: Event) -> dict:
    return event.model_dump()


def _calendar_view(calendar: Calendar) -> dict:
    return calendar.model_dump()


# --------------------------------------------------------------------------------------------------------- reads


def list_calendars(state: State, limit: int = 20, cursor: str | None = None) -> dict:
    calendars = sorted(state.calendars.values(), key=lambda c: c.id)
    page, next_cursor = _page(calendars, limit, cursor)
    return {"calendars": [_calendar_view(c) for c in page], "next_cursor": next_cursor}


def get_calendar(state: State, calendar_id: str) -> dict:
    calendar = _calendar(state, calendar_id)
    now = _now(state)
    upcoming = sum(
        1
        for e in state.events.values()
        if e.calendar_id == calendar.id and e.status == "confirmed" and _stored(e.end) > now
    )
    return {"calendar": _calendar_view(calendar), "upcoming_event_count": upcoming}


def list_events(
    state: State,
    calendar_id: str,
    start_after: str | None = None,
    start_before: str | None = None,
    status: Status | None = None,
    query: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> dict:
    calendar = _calendar(state, calendar_id)
    after = _parse_time(start_after, "start_after") if start_after is not None else None
    before = _parse_time(start_before, "start_before") if start_before is not None else None
    if after is not None and before is not None and before <= after:
        raise ToolError(f"start_before ({_fmt(before)}) must be later than start_after ({_fmt(after)})")
    needle = query.strip().casefold() if query else ""
    events = [
        e
        for e in state.events.values()
        if e.calendar_id == calendar.id
        and (status is None or e.status == status)
        and (after is None or _stored(e.start) >= after)
        and (before is None or _stored(e.start) < before)
        and needle in e.title.casefold()
    ]
    events.sort(key=lambda e: (e.start, e.id))
    page, next_cursor = _page(events, limit, cursor)
    return {"events": [_event_view(e) for e in page], "next_cursor": next_cursor}


def get_event(state: State, event_id: str) -> dict:
    return {"event": _event_view(_event(state, event_id))}


def find_free_slots(state: State, calendar_id: str, date: str, duration_minutes: int) -> dict:
    calendar = _calendar(state, calendar_id)
    day = _parse_date(date, "date")
    if day.weekday() >= 5:
        raise ToolError(
            f"{day.isoformat()} is a {WEEKDAYS[day.weekday()]}; working hours are Monday to Friday, "
            f"{WORKDAY_START:%H:%M}-{WORKDAY_END:%H:%M} UTC"
        )
    window_start = datetime.combine(day, WORKDAY_START, tzinfo=UTC)
    window_end = datetime.combine(day, WORKDAY_END, tzinfo=UTC)
    now = _now(state)
    if window_end <= now:
        raise ToolError(f"Working hours of {day.isoformat()} are already over (now is {state.now}); pick a later date")
    if now > window_start:  # today: start at the next quarter hour
        step = timedelta(minutes=SLOT_GRANULARITY_MINUTES)
        window_start += -(-(now - window_start) // step) * step
    needed = timedelta(minutes=duration_minutes)
    slots = []
    free_from = window_start
    for event in _conflicts(state, calendar, window_start, window_end):
        busy_start, busy_end = _stored(event.start), _stored(event.end)
        if busy_start - free_from >= needed:
            slots.append((free_from, busy_start))
        free_from = max(free_from, busy_end)
    if window_end - free_from >= needed:
        slots.append((free_from, window_end))
    return {
        "calendar_id": calendar.id,
        "date": day.isoformat(),
        "duration_minutes": duration_minutes,
        "working_hours": {"start": f"{WORKDAY_START:%H:%M}", "end": f"{WORKDAY_END:%H:%M}"},
        "slots": [{"start": _fmt(s), "end": _fmt(e), "minutes": int((e - s).total_seconds()) // 60} for s, e in slots],
    }


# -------------------------------------------------------------------------------------------------------- writes


def create_event(
    state: State,
    calendar_id: str,
    title: str,
    start: str,
    end: str,
    location: str = "",
    description: str = "",
    attendee_emails: list[str] | None = None,
) -> dict:
    calendar = _writable_calendar(state, calendar_id)
    clean_title = _clean_title(title)
    begins, ends = _parse_time(start, "start"), _parse_time(end, "end")
    if ends <= begins:
        raise ToolError(f"end ({_fmt(ends)}) must be after start ({_fmt(begins)})")
    if begins < _now(state):
        raise ToolError(f"start ({_fmt(begins)}) is in the past; now is {state.now}")
    emails = [_clean_email(e) for e in attendee_emails or []]
    repeated = sorted({e for e in emails if emails.count(e) > 1})
    if repeated:
        raise ToolError(f"attendee_emails lists {', '.join(repeated)} more than once")
    if len(emails) > calendar.max_attendees:
        raise ToolError(
            f"{len(emails)} attendees exceed the limit of {calendar.max_attendees} per event on calendar "
            f"{calendar.name!r} ({calendar.id})"
        )
    _check_overlap(state, calendar, begins, ends)
    event = Event(
        id=state.mint_id("evt"),
        calendar_id=calendar.id,
        title=clean_title,
        start=_fmt(begins),
        end=_fmt(ends),
        location=location.strip(),
        description=description.strip(),
        organizer_email=calendar.owner_email,
        attendees=[Attendee(email=e) for e in emails],
        created_at=state.now,
        updated_at=state.now,
    )
    state.events[event.id] = event
    return {"event": _event_view(event)}


def update_event(
    state: State,
    event_id: str,
    title: str | None = None,
    start: str | None = None,
    end: str | None = None,
    location: str | None = None,
    description: str | None = None,
) -> dict:
    event, calendar = _changeable_event(state, event_id)
    if title is None and start is None and end is None and location is None and description is None:
        raise ToolError("Nothing to update: pass at least one of title, start, end, location, description")
    new_title = _clean_title(title) if title is not None else event.title
    now = _now(state)
    old_start, old_end = _stored(event.start), _stored(event.end)
    begins = _parse_time(start, "start") if start is not None else old_start
    ends = _parse_time(end, "end") if end is not None else old_end
    if ends <= begins:
        raise ToolError(f"end ({_fmt(ends)}) must be after start ({_fmt(begins)})")
    if begins != old_start and begins < now:
        raise ToolError(f"start ({_fmt(begins)}) is in the past; now is {state.now}")
    if ends != old_end and ends <= now:
        raise ToolError(f"end ({_fmt(ends)}) is in the past; now is {state.now}")
    rescheduled = (begins, ends) != (old_start, old_end)
    if rescheduled:
        _check_overlap(state, calendar, begins, ends, ignore=event.id)
    event.title = new_title
    if location is not None:
        event.location = location.strip()
    if description is not None:
        event.description = description.strip()
    if rescheduled:
        event.start, event.end = _fmt(begins), _fmt(ends)
        for attendee in event.attendees:  # a new time needs a new answer
            attendee.response = "needs_action"
    event.updated_at = state.now
    return {"event": _event_view(event), "rescheduled": rescheduled}


def cancel_event(state: State, event_id: str) -> dict:
    event = _event(state, event_id)
    if event.status == "cancelled":
        raise ToolError(f"Event {event.id} {event.title!r} is already cancelled")
    event, _ = _changeable_event(state, event_id)
    event.status = "cancelled"
    event.updated_at = state.now
    notified = [a.email for a in event.attendees if a.response != "declined"]
    return {"event": _event_view(event), "notified_emails": notified}


def add_attendee(state: State, event_id: str, email: str, name: str | None = None) -> dict:
    event, calendar = _changeable_event(state, event_id)
    address = _clean_email(email)
    if any(a.email == address for a in event.attendees):
        raise ToolError(f"{address} is already an attendee of event {event.id} {event.title!r}")
    if len(event.attendees) >= calendar.max_attendees:
        raise ToolError(
            f"Event {event.id} {event.title!r} is full: {len(event.attendees)} of {calendar.max_attendees} "
            f"attendees allowed on calendar {calendar.name!r}. Remove an attendee first (remove_attendee)"
        )
    attendee = Attendee(email=address, name=(name or "").strip())
    event.attendees.append(attendee)
    event.updated_at = state.now
    return {"event": _event_view(event), "attendee": attendee.model_dump()}


def remove_attendee(state: State, event_id: str, email: str) -> dict:
    event, _ = _changeable_event(state, event_id)
    attendee = _attendee(event, email.strip().lower())
    event.attendees.remove(attendee)
    event.updated_at = state.now
    return {"event": _event_view(event), "removed": attendee.model_dump()}


def respond_to_invitation(state: State, event_id: str, email: str, response: Answer) -> dict:
    event, _ = _changeable_event(state, event_id)
    attendee = _attendee(event, email.strip().lower())
    if attendee.response != response:
        attendee.response = response
        event.updated_at = state.now
    return {"event": _event_view(event), "attendee": attendee.model_dump()}
