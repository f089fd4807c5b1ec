"""A travel desk: airports, scheduled flights with cabins and seat maps, bookings, payments and refunds.

Domain rules (every violation is a ToolError whose message says what to do instead):
- A flight can be booked until one hour before departure; departed flights and flights cancelled by the airline
  cannot be booked. Departure and arrival times carry the airport's UTC offset; `state.now` is UTC.
- A cabin has rows x seat letters seats. Seats sold through other channels are listed in `held_seats`. Every
  passenger of an active booking uses one seat of the cabin's capacity, whether or not a seat is selected yet.
- A booking has 1 to 9 passengers, at least one adult (12 or older on the departure date) and at least one e-mail
  address for the e-tickets. Children (under 12) pay 75% of the adult fare. A name can hold only one active booking
  per flight.
- A seat must exist on the aircraft, be in the booked cabin and be free; children may not sit in exit rows.
- A payment must equal the balance due exactly. The card ending 0002 is the sandbox's always-declined test card.
- Cancellation refunds what was paid: business and first are fully refundable until departure; economy and premium
  economy are fully refundable 24 hours or more before departure and 50% refundable after that; a flight cancelled
  by the airline is always refunded in full.
- change_flight keeps the route and the cabin and reprices at the new flight's fare: a cheaper fare is refunded, a
  dearer one leaves a balance to pay. Moving off a flight the airline cancelled keeps the fares already agreed.

Money is integer US cents.
"""

import re
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from registry.contract import EnvState, ToolError

CabinName = Literal["economy", "premium_economy", "business", "first"]
BookingStatus = Literal["pending_payment", "confirmed", "cancelled"]

CABIN_ORDER = ("first", "business", "premium_economy", "economy")
FULLY_REFUNDABLE_CABINS = ("business", "first")
BOOKING_CUTOFF = timedelta(hours=1)
FREE_CANCELLATION_NOTICE = timedelta(hours=24)
LATE_CANCELLATION_REFUND_PERCENT = 50
ADULT_MIN_AGE = 12
CHILD_FARE_PERCENT = 75
MAX_PASSENGERS = 9
MAX_AGE = 120
DECLINED_CARD = "0002"
FREE_SEATS_IN_ERRORS = 6

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SEAT_RE = re.compile(r"^([1-9][0-9]?)([A-HJK])$")


# --------------------------------------------------------------------------------------------------------- models


class Airport(BaseModel):
    code: str = Field(description="IATA airport code, e.g. JFK.")
    name: str
    city: str
    country: str = Field(description="ISO 3166-1 alpha-2 country code.")


class CabinLayout(BaseModel):
    cabin: CabinName
    fare_cents: int = Field(ge=0, description="Adult one-way fare per passenger, in US cents.")
    first_row: int = Field(ge=1)
    last_row: int = Field(ge=1)
    seat_letters: str = Field(description="Seat letters of every row of the cabin, window to window, e.g. ABCDEF.")
    exit_rows: list[int] = Field(default_factory=list, description="Emergency exit rows (no children).")
    held_seats: list[str] = Field(default_factory=list, description="Seats sold through other channels.")


class Flight(BaseModel):
    id: str
    flight_number: str
    airline: str
    aircraft: str
    origin: str
    destination: str
    departure_at: str = Field(description="Local departure time with UTC offset (ISO-8601).")
    arrival_at: str = Field(description="Local arrival time with UTC offset (ISO-8601).")
    status: Literal["scheduled", "cancelled"] = Field(
        default="scheduled", description="'cancelled' when the airline cancelled the flight; 'departed' is derived.")
    cabins: list[CabinLayout]


class Passenger(BaseModel):
    id: str
    name: str
    email: str | None = None
    date_of_birth: str | None = None
    passenger_type: Literal["adult", "child"] = "adult"
    fare_cents: int = Field(ge=0)
    seat: str | None = None


class Booking(BaseModel):
    id: str
    flight_id: str
    cabin: CabinName
    status: BookingStatus
    passengers: list[Passenger]
    created_at: str
    cancelled_at: str | None = None


class Payment(BaseModel):
    id: str
    booking_id: str
    amount_cents: int = Field(ge=1)
    card_last4: str
    created_at: str


class Refund(BaseModel):
    id: str
    booking_id: str
    amount_cents: int = Field(ge=1)
    card_last4: str
    reason: str
    created_at: str


class State(EnvState):
    airports: dict[str, Airport] = Field(default_factory=dict, description="Airports keyed by IATA code.")
    flights: dict[str, Flight] = Field(default_factory=dict, description="Flights keyed by id (fl_XXXX).")
    bookings: dict[str, Booking] = Field(default_factory=dict, description="Bookings keyed by id (bk_XXXX).")
    payments: dict[str, Payment] = Field(default_factory=dict, description="Card payments keyed by id (pay_XXXX).")
    refunds: dict[str, Refund] = Field(default_factory=dict, description="Refunds keyed by id (ref_XXXX).")


# -------------------------------------------------------------------------------------------------------- helpers


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _now(state: State) -> datetime:
    return _dt(state.now)


def _flight_name(flight: Flight) -> str:
    return f"{flight.id} ({flight.flight_number} {flight.origin}\u2192{flight.destination})"


def _get_flight(state: State, flight_id: str) -> Flight:
    flight = state.flights.get(flight_id)
    if flight is None:
        raise ToolError(f"No flight with id {flight_id!r}; search_flights returns flight ids such as 'fl_0001'.")
    return flight


def _get_booking(state: State, booking_id: str) -> Booking:
    booking = state.bookings.get(booking_id)
    if booking is None:
        raise ToolError(f"No booking with id {booking_id!r}; list_bookings shows existing bookings.")
    return booking


def _get_airport(state: State, code: str) -> Airport:
    airport = state.airports.get(code)
    if airport is None:
        raise ToolError(f"Unknown airport code {code!r}; list_airports shows the airports this desk serves.")
    return airport


def _flight_status(state: State, flight: Flight) -> str:
    if flight.status == "cancelled":
        return "cancelled"
    return "departed" if _dt(flight.departure_at) <= _now(state) else "scheduled"


def _ensure_bookable(state: State, flight: Flight) -> None:
    """Raise unless new passengers can still be put on `flight`."""
    if flight.status == "cancelled":
        raise ToolError(f"Flight {_flight_name(flight)} was cancelled by the airline; search_flights for another "
                        "departure.")
    departure = _dt(flight.departure_at)
    if departure <= _now(state):
        raise ToolError(f"Flight {_flight_name(flight)} departed at {flight.departure_at}; it can no longer be "
                        "booked.")
    if departure - _now(state) < BOOKING_CUTOFF:
        raise ToolError(f"Booking for flight {_flight_name(flight)} closed one hour before its departure at "
                        f"{flight.departure_at}; search_flights for a later departure.")


def _ensure_not_departed(state: State, flight: Flight, action: str) -> None:
    if flight.status != "cancelled" and _dt(flight.departure_at) <= _now(state):
        raise ToolError(f"Flight {_flight_name(flight)} departed at {flight.departure_at}; {action} is not possible "
                        "after departure.")


def _ensure_active(booking: Booking, action: str) -> None:
    if booking.status == "cancelled":
        raise ToolError(f"Booking {booking.id} was cancelled at {booking.cancelled_at}; {action} is not possible on a "
                        "cancelled booking. Use create_booking for a new one.")


def _layout(flight: Flight, cabin: str) -> CabinLayout:
    for layout in flight.cabins:
        if layout.cabin == cabin:
            return layout
    offered = ", ".join(c.cabin for c in flight.cabins)
    raise ToolError(f"Flight {_flight_name(flight)} has no {cabin} cabin; it offers: {offered}.")


def _seat_labels(layout: CabinLayout) -> list[str]:
    return [f"{row}{letter}" for row in range(layout.first_row, layout.last_row + 1) for letter in layout.seat_letters]


def _row(seat: str) -> int:
    """Row number of a seat label that matches SEAT_RE ("23C" -> 23)."""
    return int(seat[:-1])


def _seat_cabin(flight: Flight, seat: str) -> CabinLayout | None:
    """The cabin that holds `seat` on this aircraft, or None when the aircraft has no such seat."""
    match = SEAT_RE.match(seat)
    if match is None:
        return None
    row, letter = int(match.group(1)), match.group(2)
    return next((c for c in flight.cabins if c.first_row <= row <= c.last_row and letter in c.seat_letters), None)


def _capacity(layout: CabinLayout) -> int:
    return (layout.last_row - layout.first_row + 1) * len(layout.seat_letters)


def _active_bookings(state: State, flight_id: str, cabin: str | None = None) -> list[Booking]:
    return [b for b in state.bookings.values()
            if b.flight_id == flight_id and b.status != "cancelled" and (cabin is None or b.cabin == cabin)]


def _assigned_seats(state: State, flight: Flight, cabin: str) -> dict[str, str]:
    """Seat -> passenger id, for the desk's active bookings in this cabin."""
    return {p.seat: p.id for b in _active_bookings(state, flight.id, cabin) for p in b.passengers if p.seat}


def _seats_available(state: State, flight: Flight, layout: CabinLayout) -> int:
    booked = sum(len(b.passengers) for b in _active_bookings(state, flight.id, layout.cabin))
    return max(_capacity(layout) - len(layout.held_seats) - booked, 0)


def _free_seats(state: State, flight: Flight, layout: CabinLayout) -> list[str]:
    taken = set(layout.held_seats) | set(_assigned_seats(state, flight, layout.cabin))
    return [s for s in _seat_labels(layout) if s not in taken]


def _age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _passenger_type(date_of_birth: str | None, departure_day: date) -> str:
    if date_of_birth is None:
        return "adult"
    return "adult" if _age_on(date.fromisoformat(date_of_birth), departure_day) >= ADULT_MIN_AGE else "child"


def _passenger_fare(adult_fare_cents: int, passenger_type: str) -> int:
    if passenger_type == "adult":
        return adult_fare_cents
    return (adult_fare_cents * CHILD_FARE_PERCENT + 50) // 100


def _paid_cents(state: State, booking_id: str) -> int:
    return sum(p.amount_cents for p in state.payments.values() if p.booking_id == booking_id)


def _refunded_cents(state: State, booking_id: str) -> int:
    return sum(r.amount_cents for r in state.refunds.values() if r.booking_id == booking_id)


def _total_cents(booking: Booking) -> int:
    return sum(p.fare_cents for p in booking.passengers)


def _balance_due(state: State, booking: Booking) -> int:
    if booking.status == "cancelled":
        return 0
    net_paid = _paid_cents(state, booking.id) - _refunded_cents(state, booking.id)
    return max(_total_cents(booking) - net_paid, 0)


def _last_card(state: State, booking_id: str) -> str:
    cards = [p.card_last4 for p in sorted(state.payments.values(), key=lambda p: p.id) if p.booking_id == booking_id]
    return cards[-1] if cards else ""


def _issue_refund(state: State, booking: Booking, amount_cents: int, reason: str) -> Refund | None:
    if amount_cents <= 0:
        return None
    refund = Refund(id=state.mint_id("ref"), booking_id=booking.id, amount_cents=amount_cents,
                    card_last4=_last_card(state, booking.id), reason=reason, created_at=state.now)
    state.refunds[refund.id] = refund
    return refund


def _paginate(items: list, ids: list[str], limit: int, cursor: str | None, tool: str) -> tuple[list, str | None]:
    """One page of `items`; the cursor is the id of the first item of the page (opaque to callers)."""
    start = 0
    if cursor is not None:
        if cursor not in ids:
            raise ToolError(f"Unknown cursor {cursor!r}: pass next_cursor from the previous {tool} call unchanged "
                            "(with the same filters), or omit cursor to start from the first page.")
        start = ids.index(cursor)
    end = start + limit
    return items[start:end], (ids[end] if end < len(ids) else None)


# ---------------------------------------------------------------------------------------------------------- views


def _airport_view(airport: Airport) -> dict:
    return airport.model_dump()


def _cabin_offer(state: State, flight: Flight, layout: CabinLayout) -> dict:
    return {"cabin": layout.cabin, "fare_cents": layout.fare_cents,
            "seats_available": _seats_available(state, flight, layout)}


def _flight_view(state: State, flight: Flight, cabins: list[CabinLayout] | None = None) -> dict:
    layouts = flight.cabins if cabins is None else cabins
    minutes = int((_dt(flight.arrival_at) - _dt(flight.departure_at)).total_seconds() // 60)
    return {
        "id": flight.id,
        "flight_number": flight.flight_number,
        "airline": flight.airline,
        "aircraft": flight.aircraft,
        "origin": flight.origin,
        "destination": flight.destination,
        "departure_at": flight.departure_at,
        "arrival_at": flight.arrival_at,
        "duration_minutes": minutes,
        "status": _flight_status(state, flight),
        "cabins": [_cabin_offer(state, flight, c) for c in layouts],
    }


def _payment_view(payment: Payment) -> dict:
    return payment.model_dump()


def _refund_view(refund: Refund) -> dict:
    return refund.model_dump()


def _booking_view(state: State, booking: Booking) -> dict:
    flight = state.flights.get(booking.flight_id)
    flight_number = flight.flight_number if flight else ""
    origin = flight.origin if flight else ""
    destination = flight.destination if flight else ""
    departure_at = flight.departure_at if flight else ""
    lead = booking.passengers[0].name if booking.passengers else "?"
    others = f" +{len(booking.passengers) - 1}" if len(booking.passengers) > 1 else ""
    payments = sorted((p for p in state.payments.values() if p.booking_id == booking.id), key=lambda p: p.id)
    refunds = sorted((r for r in state.refunds.values() if r.booking_id == booking.id), key=lambda r: r.id)
    return {
        "id": booking.id,
        "label": f"{flight_number} {origin}\u2192{destination} {departure_at[:10]} \u00b7 {lead}{others}",
        "flight_id": booking.flight_id,
        "flight_number": flight_number,
        "origin": origin,
        "destination": destination,
        "departure_at": departure_at,
        "cabin": booking.cabin,
        "status": booking.status,
        "passengers": [p.model_dump() for p in booking.passengers],
        "total_cents": _total_cents(booking),
        "paid_cents": sum(p.amount_cents for p in payments),
        "refunded_cents": sum(r.amount_cents for r in refunds),
        "balance_due_cents": _balance_due(state, booking),
        "created_at": booking.created_at,
        "cancelled_at": booking.cancelled_at,
        "payments": [_payment_view(p) for p in payments],
        "refunds": [_refund_view(r) for r in refunds],
    }


# ----------------------------------------------------------------------------------------------------- read tools


def list_airports(state: State, query: str | None = None, country: str | None = None, limit: int = 20,
                  cursor: str | None = None) -> dict:
    airports = sorted(state.airports.values(), key=lambda a: a.code)
    if query is not None and query.strip():
        needle = query.strip().casefold()
        airports = [a for a in airports
                    if needle in a.code.casefold() or needle in a.name.casefold() or needle in a.city.casefold()]
    if country is not None:
        airports = [a for a in airports if a.country == country]
    page, next_cursor = _paginate(airports, [a.code for a in airports], limit, cursor, "list_airports")
    return {"airports": [_airport_view(a) for a in page], "next_cursor": next_cursor}


def search_flights(state: State, origin: str, destination: str, date: str, cabin: str | None = None,
                   max_price_cents: int | None = None, passengers: int = 1, limit: int = 20,
                   cursor: str | None = None) -> dict:
    # `date` is the input's name (the API's word for it); this function does not use the datetime.date class.
    _get_airport(state, origin)
    _get_airport(state, destination)
    if origin == destination:
        raise ToolError(f"origin and destination are both {origin}; choose two different airports.")
    try:
        day = datetime.strptime(date, "%Y-%m-%d").date()
    except ValueError:
        raise ToolError(f"date {date!r} is not a calendar date in YYYY-MM-DD form, e.g. '2026-03-14'.") from None
    today = _now(state).date()
    if day < today:
        raise ToolError(f"date {date} is in the past (today is {today.isoformat()} UTC); search today or later.")

    matches = []
    for flight in sorted(state.flights.values(), key=lambda f: (_dt(f.departure_at), f.flight_number)):
        if (flight.origin, flight.destination) != (origin, destination) or flight.departure_at[:10] != date:
            continue
        if _flight_status(state, flight) != "scheduled" or _dt(flight.departure_at) - _now(state) < BOOKING_CUTOFF:
            continue
        offers = [c for c in flight.cabins
                  if (cabin is None or c.cabin == cabin)
                  and (max_price_cents is None or c.fare_cents <= max_price_cents)
                  and _seats_available(state, flight, c) >= passengers]
        if offers:
            matches.append((flight, offers))
    page, next_cursor = _paginate(matches, [f.id for f, _ in matches], limit, cursor, "search_flights")
    return {"flights": [_flight_view(state, f, offers) for f, offers in page], "next_cursor": next_cursor}


def get_flight(state: State, flight_id: str) -> dict:
    return {"flight": _flight_view(state, _get_flight(state, flight_id))}


def get_seat_map(state: State, flight_id: str, cabin: str | None = None) -> dict:
    flight = _get_flight(state, flight_id)
    layouts = flight.cabins if cabin is None else [_layout(flight, cabin)]
    cabins = []
    for layout in layouts:
        free = _free_seats(state, flight, layout)
        free_set = set(free)
        cabins.append({
            "cabin": layout.cabin,
            "first_row": layout.first_row,
            "last_row": layout.last_row,
            "seat_letters": layout.seat_letters,
            "exit_rows": list(layout.exit_rows),
            "seats_total": _capacity(layout),
            "seats_available": _seats_available(state, flight, layout),
            "free_seats": free,
            "taken_seats": [s for s in _seat_labels(layout) if s not in free_set],
        })
    return {"flight_id": flight.id, "flight_number": flight.flight_number,
            "status": _flight_status(state, flight), "cabins": cabins}


def get_booking(state: State, booking_id: str) -> dict:
    return {"booking": _booking_view(state, _get_booking(state, booking_id))}


def list_bookings(state: State, email: str | None = None, status: str | None = None, flight_id: str | None = None,
                  limit: int = 20, cursor: str | None = None) -> dict:
    if flight_id is not None:
        _get_flight(state, flight_id)
    bookings = sorted(state.bookings.values(), key=lambda b: b.id)
    if email is not None:
        wanted = email.strip().casefold()
        bookings = [b for b in bookings if any((p.email or "").casefold() == wanted for p in b.passengers)]
    if status is not None:
        bookings = [b for b in bookings if b.status == status]
    if flight_id is not None:
        bookings = [b for b in bookings if b.flight_id == flight_id]
    page, next_cursor = _paginate(bookings, [b.id for b in bookings], limit, cursor, "list_bookings")
    return {"bookings": [_booking_view(state, b) for b in page], "next_cursor": next_cursor}


# ---------------------------------------------------------------------------------------------------- write tools


def _check_passenger(index: int, raw: dict, departure_day: date) -> tuple[str, str | None, str | None]:
    """Validate one passenger entry of create_booking; return (name, email, date_of_birth) cleaned."""
    name = " ".join(str(raw.get("name", "")).split())
    where = f"passengers[{index}]"
    if not name:
        raise ToolError(f"{where}: name must not be blank; give the name as printed in the passport.")
    email = raw.get("email")
    if email is not None:
        email = email.strip()
        if not EMAIL_RE.match(email):
            raise ToolError(f"{where} ({name}): email {email!r} is not a valid address, e.g. 'ana@example.com'.")
    born = raw.get("date_of_birth")
    if born is not None:
        try:
            day = datetime.strptime(born, "%Y-%m-%d").date()
        except ValueError:
            raise ToolError(f"{where} ({name}): date_of_birth {born!r} is not a date in YYYY-MM-DD form.") from None
        if day > departure_day:
            raise ToolError(f"{where} ({name}): date_of_birth {born} is after the departure date "
                            f"{departure_day.isoformat()}.")
        if _age_on(day, departure_day) > MAX_AGE:
            raise ToolError(f"{where} ({name}): date_of_birth {born} gives an age over {MAX_AGE}; check the date.")
    return name, email, born


def _ensure_not_double_booked(state: State, flight: Flight, names: list[str], except_booking: str = "") -> None:
    wanted = {name.casefold() for name in names}
    for booking in _active_bookings(state, flight.id):
        if booking.id == except_booking:
            continue
        for passenger in booking.passengers:
            if passenger.name.casefold() in wanted:
                raise ToolError(f"{passenger.name} already holds booking {booking.id} on flight "
                                f"{_flight_name(flight)}; use get_booking on it instead of booking the same "
                                "passenger twice.")


def _ensure_capacity(state: State, flight: Flight, layout: CabinLayout, needed: int) -> None:
    available = _seats_available(state, flight, layout)
    if available < needed:
        others = [f"{c.cabin} ({_seats_available(state, flight, c)})" for c in flight.cabins if c.cabin != layout.cabin
                  and _seats_available(state, flight, c) >= needed]
        hint = f"cabins with room: {', '.join(others)}" if others else "search_flights for another departure"
        raise ToolError(f"The {layout.cabin} cabin of flight {_flight_name(flight)} has {available} seat(s) left "
                        f"but {needed} passenger(s) need one; {hint}.")


def create_booking(state: State, flight_id: str, cabin: str, passengers: list[dict]) -> dict:
    flight = _get_flight(state, flight_id)
    _ensure_bookable(state, flight)
    layout = _layout(flight, cabin)
    if not 1 <= len(passengers) <= MAX_PASSENGERS:
        raise ToolError(f"A booking holds 1 to {MAX_PASSENGERS} passengers, got {len(passengers)}; split larger "
                        "groups into several bookings.")
    departure_day = _dt(flight.departure_at).date()
    cleaned = [_check_passenger(i, raw, departure_day) for i, raw in enumerate(passengers)]
    types = [_passenger_type(born, departure_day) for _, _, born in cleaned]
    if "adult" not in types:
        raise ToolError(f"Every passenger is under {ADULT_MIN_AGE} on {departure_day.isoformat()}; a booking needs at "
                        "least one adult (unaccompanied minors are booked with the airline directly).")
    if not any(email for _, email, _ in cleaned):
        raise ToolError("No passenger has an email; give at least one passenger an email to receive the e-tickets.")
    _ensure_not_double_booked(state, flight, [name for name, _, _ in cleaned])
    _ensure_capacity(state, flight, layout, len(cleaned))

    booking = Booking(id=state.mint_id("bk"), flight_id=flight.id, cabin=layout.cabin, status="pending_payment",
                      passengers=[], created_at=state.now)
    for (name, email, born), kind in zip(cleaned, types, strict=True):
        booking.passengers.append(Passenger(id=state.mint_id("pax"), name=name, email=email, date_of_birth=born,
                                            passenger_type=kind, fare_cents=_passenger_fare(layout.fare_cents, kind)))
    state.bookings[booking.id] = booking
    return {"booking": _booking_view(state, booking)}


def select_seat(state: State, booking_id: str, passenger_id: str, seat: str) -> dict:
    booking = _get_booking(state, booking_id)
    _ensure_active(booking, "seat selection")
    flight = _get_flight(state, booking.flight_id)
    if flight.status == "cancelled":
        raise ToolError(f"Flight {_flight_name(flight)} was cancelled by the airline; move the booking with "
                        "change_flight before choosing seats.")
    _ensure_not_departed(state, flight, "seat selection")
    passenger = next((p for p in booking.passengers if p.id == passenger_id), None)
    if passenger is None:
        known = ", ".join(f"{p.id} ({p.name})" for p in booking.passengers)
        raise ToolError(f"Passenger {passenger_id!r} is not on booking {booking.id}; its passengers are {known}.")
    layout = _seat_cabin(flight, seat)
    if layout is None:
        plan = "; ".join(f"{c.cabin} rows {c.first_row}-{c.last_row} seats {c.seat_letters}" for c in flight.cabins)
        raise ToolError(f"Seat {seat} does not exist on flight {_flight_name(flight)} ({flight.aircraft}): {plan}.")
    if layout.cabin != booking.cabin:
        booked = _layout(flight, booking.cabin)
        raise ToolError(f"Seat {seat} is in the {layout.cabin} cabin but booking {booking.id} is {booking.cabin} "
                        f"(rows {booked.first_row}-{booked.last_row}); get_seat_map shows the free {booking.cabin} "
                        "seats.")
    previous = passenger.seat
    if previous == seat:
        return {"booking": _booking_view(state, booking), "passenger": passenger.model_dump(), "previous_seat": seat}
    is_child = passenger.passenger_type == "child"
    if seat in layout.held_seats or seat in _assigned_seats(state, flight, layout.cabin):
        free = [s for s in _free_seats(state, flight, layout) if not (is_child and _row(s) in layout.exit_rows)]
        if not free:
            raise ToolError(f"Seat {seat} is already taken on flight {_flight_name(flight)} and no other "
                            f"{layout.cabin} seat is free for {passenger.name}.")
        shown = ", ".join(free[:FREE_SEATS_IN_ERRORS])
        more = f" (and {len(free) - FREE_SEATS_IN_ERRORS} more)" if len(free) > FREE_SEATS_IN_ERRORS else ""
        raise ToolError(f"Seat {seat} is already taken on flight {_flight_name(flight)}; free {layout.cabin} seats: "
                        f"{shown}{more}.")
    if is_child and _row(seat) in layout.exit_rows:
        raise ToolError(f"Row {_row(seat)} is an emergency exit row and {passenger.name} is a child; exit rows are "
                        "for adults only. Pick a seat in another row.")
    passenger.seat = seat
    return {"booking": _booking_view(state, booking), "passenger": passenger.model_dump(), "previous_seat": previous}


def pay_booking(state: State, booking_id: str, amount_cents: int, card_last4: str) -> dict:
    booking = _get_booking(state, booking_id)
    _ensure_active(booking, "payment")
    flight = _get_flight(state, booking.flight_id)
    if flight.status == "cancelled":
        raise ToolError(f"Flight {_flight_name(flight)} was cancelled by the airline; use change_flight to move the "
                        "booking or cancel_booking for a refund before paying.")
    _ensure_not_departed(state, flight, "payment")
    due = _balance_due(state, booking)
    if due == 0:
        raise ToolError(f"Booking {booking.id} is already paid in full ({_money(_total_cents(booking))}); nothing is "
                        "due.")
    if amount_cents != due:
        raise ToolError(f"Amount mismatch: booking {booking.id} has {_money(due)} due, so amount_cents must be {due} "
                        f"(got {amount_cents}).")
    if card_last4 == DECLINED_CARD:
        raise ToolError(f"The card ending {card_last4} was declined by the issuer; nothing was charged. Ask the "
                        "traveller for another card.")
    payment = Payment(id=state.mint_id("pay"), booking_id=booking.id, amount_cents=amount_cents,
                      card_last4=card_last4, created_at=state.now)
    state.payments[payment.id] = payment
    booking.status = "confirmed"
    return {"payment": _payment_view(payment), "booking": _booking_view(state, booking)}


def _refund_policy(state: State, booking: Booking, flight: Flight) -> tuple[int, str]:
    """Percentage of the amount paid that a cancellation now refunds, and why."""
    if flight.status == "cancelled":
        return 100, "flight cancelled by the airline: full refund"
    if booking.cabin in FULLY_REFUNDABLE_CABINS:
        return 100, f"{booking.cabin} fares are fully refundable until departure"
    if _dt(flight.departure_at) - _now(state) >= FREE_CANCELLATION_NOTICE:
        return 100, "cancelled 24 hours or more before departure: full refund"
    return LATE_CANCELLATION_REFUND_PERCENT, (f"cancelled less than 24 hours before departure: "
                                              f"{LATE_CANCELLATION_REFUND_PERCENT}% refund")


def cancel_booking(state: State, booking_id: str) -> dict:
    booking = _get_booking(state, booking_id)
    if booking.status == "cancelled":
        raise ToolError(f"Booking {booking.id} is already cancelled (at {booking.cancelled_at}); get_booking shows "
                        "its refund.")
    flight = _get_flight(state, booking.flight_id)
    _ensure_not_departed(state, flight, "cancellation")
    percent, reason = _refund_policy(state, booking, flight)
    net_paid = _paid_cents(state, booking.id) - _refunded_cents(state, booking.id)
    refund = _issue_refund(state, booking, net_paid * percent // 100, reason)
    released = [p.seat for p in booking.passengers if p.seat]
    for passenger in booking.passengers:
        passenger.seat = None
    booking.status = "cancelled"
    booking.cancelled_at = state.now
    return {"booking": _booking_view(state, booking), "refund": _refund_view(refund) if refund else None,
            "refund_percent": percent if net_paid > 0 else 0, "released_seats": released}


def change_flight(state: State, booking_id: str, new_flight_id: str) -> dict:
    booking = _get_booking(state, booking_id)
    _ensure_active(booking, "changing flights")
    old = _get_flight(state, booking.flight_id)
    _ensure_not_departed(state, old, "changing flights")
    new = _get_flight(state, new_flight_id)
    if new.id == old.id:
        raise ToolError(f"Booking {booking.id} is already on flight {_flight_name(old)}; pick a different flight.")
    if (new.origin, new.destination) != (old.origin, old.destination):
        raise ToolError(f"change_flight keeps the route {old.origin}\u2192{old.destination}, but flight "
                        f"{_flight_name(new)} flies {new.origin}\u2192{new.destination}; cancel_booking and "
                        "create_booking to change the route.")
    _ensure_bookable(state, new)
    layout = _layout(new, booking.cabin)
    _ensure_not_double_booked(state, new, [p.name for p in booking.passengers], except_booking=booking.id)
    _ensure_capacity(state, new, layout, len(booking.passengers))

    involuntary = old.status == "cancelled"
    old_total = _total_cents(booking)
    departure_day = _dt(new.departure_at).date()
    for passenger in booking.passengers:
        passenger.seat = None
        if not involuntary:
            passenger.passenger_type = _passenger_type(passenger.date_of_birth, departure_day)
            passenger.fare_cents = _passenger_fare(layout.fare_cents, passenger.passenger_type)
    booking.flight_id = new.id
    new_total = _total_cents(booking)

    net_paid = _paid_cents(state, booking.id) - _refunded_cents(state, booking.id)
    refund = _issue_refund(state, booking, net_paid - new_total,
                           f"fare difference after change from {old.flight_number} to {new.flight_number}")
    if net_paid > 0:
        booking.status = "confirmed" if net_paid >= new_total else "pending_payment"
    return {"booking": _booking_view(state, booking), "previous_flight_id": old.id,
            "fare_difference_cents": new_total - old_total, "refund": _refund_view(refund) if refund else None}
