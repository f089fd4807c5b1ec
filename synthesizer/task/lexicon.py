"""What a tool does to what, in words a person would use: the operation kind, the resource noun, and how a stated
value is said (its slot). Built from the tool's name, annotations and parameter names, never from description text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from common import naming
from synthesizer.plan.schema import singular

Kind = Literal["get", "list", "search", "create", "update", "delete", "action"]

GET = {"get", "read", "fetch", "show", "view", "describe", "retrieve", "lookup", "check", "load", "info", "status"}
LIST = {"list", "browse", "all", "index", "enumerate"}
SEARCH = {"search", "find", "query", "filter", "lookup_by"}
CREATE = {"create", "add", "new", "make", "post", "insert", "register", "book", "reserve", "place", "schedule",
          "send", "upload", "submit", "open", "start", "invite", "write", "draft", "issue", "generate", "copy",
          "duplicate", "import", "subscribe", "follow", "save", "star", "like"}
UPDATE = {"update", "edit", "modify", "change", "set", "rename", "patch", "put", "move", "assign", "replace",
          "reschedule", "mark", "toggle", "enable", "disable", "tag", "label", "attach", "link", "resize", "adjust"}
DELETE = {"delete", "remove", "cancel", "archive", "close", "revoke", "clear", "unsubscribe", "destroy", "drop",
          "unfollow", "unstar", "trash", "detach", "unlink", "decline", "reject", "void"}
# the request verb a person uses for a tool verb (kind create/update/delete/action), with its past tense
SAY: dict[str, tuple[str, str]] = {
    "create": ("create", "created"), "add": ("add", "added"), "new": ("set up", "set up"), "make": ("make", "made"),
    "post": ("post", "posted"), "insert": ("add", "added"), "register": ("register", "registered"),
    "book": ("book", "booked"), "reserve": ("reserve", "reserved"), "place": ("place", "placed"),
    "schedule": ("schedule", "scheduled"), "send": ("send", "sent"), "upload": ("upload", "uploaded"),
    "submit": ("submit", "submitted"), "open": ("open", "opened"), "invite": ("invite", "invited"),
    "write": ("write", "wrote"), "draft": ("draft", "drafted"), "copy": ("copy", "copied"),
    "subscribe": ("subscribe to", "subscribed to"), "follow": ("follow", "followed"), "save": ("save", "saved"),
    "star": ("star", "starred"), "like": ("like", "liked"), "start": ("start", "started"),
    "update": ("update", "updated"), "edit": ("edit", "edited"), "modify": ("change", "changed"),
    "change": ("change", "changed"), "set": ("change", "changed"), "rename": ("rename", "renamed"),
    "patch": ("update", "updated"), "put": ("update", "updated"), "move": ("move", "moved"),
    "assign": ("assign", "assigned"), "replace": ("replace", "replaced"), "reschedule": ("reschedule", "rescheduled"),
    "mark": ("mark", "marked"), "enable": ("turn on", "turned on"), "disable": ("turn off", "turned off"),
    "delete": ("delete", "deleted"), "remove": ("remove", "removed"), "cancel": ("cancel", "cancelled"),
    "archive": ("archive", "archived"), "close": ("close", "closed"), "revoke": ("revoke", "revoked"),
    "clear": ("clear", "cleared"), "unsubscribe": ("unsubscribe from", "unsubscribed from"),
    "unfollow": ("unfollow", "unfollowed"), "decline": ("decline", "declined"), "reject": ("reject", "rejected"),
    "checkout": ("check out", "checked out"), "pay": ("pay for", "paid for"), "confirm": ("confirm", "confirmed"),
    "refund": ("refund", "refunded"), "return": ("return", "returned"), "approve": ("approve", "approved"),
    "apply": ("apply", "applied"), "complete": ("complete", "completed"), "accept": ("accept", "accepted"),
    "share": ("share", "shared"), "reply": ("reply to", "replied to"), "restore": ("restore", "restored"),
    "publish": ("publish", "published"), "release": ("release", "released"), "transfer": ("transfer", "transferred"),
    "convert": ("convert", "converted"), "verify": ("verify", "verified"), "resend": ("resend", "resent"),
    "forward": ("forward", "forwarded"), "merge": ("merge", "merged"), "split": ("split", "split"),
    "play": ("play", "played"), "pause": ("pause", "paused"), "stop": ("stop", "stopped"), "run": ("run", "ran"),
    "trash": ("move to the trash", "moved to the trash"), "attach": ("attach", "attached"),
    "link": ("link", "linked"), "detach": ("detach", "detached"), "unlink": ("unlink", "unlinked"),
    "tag": ("tag", "tagged"), "label": ("label", "labelled"), "toggle": ("toggle", "toggled"),
    "import": ("import", "imported"), "issue": ("issue", "issued"), "generate": ("generate", "generated"),
    "duplicate": ("duplicate", "duplicated"), "drop": ("drop", "dropped"), "void": ("void", "voided"),
    "resize": ("resize", "resized"), "adjust": ("adjust", "adjusted"), "destroy": ("delete", "deleted"),
    "unstar": ("unstar", "unstarred"), "respond": ("respond to", "responded to"),
}
SELF = {"me", "my", "self", "current", "myself", "own", "mine", "whoami", "account", "profile"}
QUALIFIERS = {"by", "for", "of", "with", "from", "in", "per"}
NOISE = {"v1", "v2", "v3", "api", "all", "details", "detail", "info", "data", "single", "one", "user", "users"}
PLURAL_HINT = LIST | SEARCH


@dataclass(frozen=True)
class Operation:
    kind: Kind
    verb: str  # the tool's own verb token ("" when it has none)
    noun: str  # the resource, singular, in words ("playlist track"); "" when nothing sensible is left
    self_scoped: bool = False  # `get_me`, `get_current_user`: about the user's own account
    target: str = ""  # `add_to_cart` -> "cart": the thing acted on is put into (or taken from) a target
    target_prep: str = ""  # "to" or "from"

    @property
    def say(self) -> tuple[str, str]:
        """(request verb, past tense) for writes; lookups are phrased by `task.speak`."""
        if self.verb in SAY:
            return SAY[self.verb]
        if self.kind == "action" and self.verb:
            past = self.verb + ("d" if self.verb.endswith("e") else "ed")
            return (self.verb + (" to" if self.verb in ("respond", "reply", "subscribe") else ""), past)
        base = {"create": ("create", "created"), "update": ("update", "updated"), "delete": ("delete", "deleted")}
        return base.get(self.kind, ("take care of", "took care of"))


def split_words(name: str) -> list[str]:
    """`getUserPlaylists` / `get_user-playlists` -> ['get', 'user', 'playlists']."""
    return [w for w in naming.snake(name).replace("-", "_").split("_") if w]


def operation(tool_name: str, read_only: bool, destructive: bool = False) -> Operation:
    """The kind and resource of a tool from its own name and annotations."""
    parts = split_words(tool_name)
    verb = parts[0] if parts else ""
    rest = parts[1:] if len(parts) > 1 else []
    if verb in GET | LIST | SEARCH | CREATE | UPDATE | DELETE or verb in SAY:
        pass
    elif rest and rest[-1] in SAY:  # `playlist_follow`, `order_cancel`
        verb, rest = rest[-1], parts[:-1]
    elif not read_only and rest and re.fullmatch(r"[a-z]{4,}", verb) and verb not in NOISE:  # `respond_to_x`
        pass
    else:
        verb, rest = "", parts
    target = prep = ""
    if rest and rest[0] in ("to", "into", "from") and len(rest) > 1 and not read_only:
        prep = "from" if rest[0] == "from" else "to"
        target, rest = " ".join([*rest[1:-1], singular(rest[-1])]), []
    rest = rest[1:] if rest and rest[0] in ("to", "for", "on") else rest
    if read_only:
        kind: Kind = "list" if verb in LIST else "search" if verb in SEARCH else "get"
        if not verb or verb in GET:
            kind = "list" if rest and rest[-1].endswith("s") and not rest[-1].endswith("ss") else "get"
    elif verb in CREATE:
        kind = "create"
    elif verb in UPDATE:
        kind = "update"
    elif verb in DELETE or (destructive and not verb):
        kind = "delete"
    else:
        kind = "action"
    cut = next((i for i, w in enumerate(rest) if w in QUALIFIERS and i > 0), len(rest))
    kept = [w for w in rest[:cut] if w not in NOISE and not re.fullmatch(r"v?\d+", w)]
    self_scoped = any(w in SELF for w in rest) or (not kept and "user" in rest)
    kept = [w for w in kept if w not in SELF]
    if kept:
        kept[-1] = singular(kept[-1])
    return Operation(kind=kind, verb=verb, noun=" ".join(kept), self_scoped=self_scoped, target=target,
                     target_prep=prep)


def plural(noun: str) -> str:
    """`playlist track` -> `playlist tracks`, `category` -> `categories`, `address` -> `addresses`."""
    if not noun:
        return noun
    head, _, last = noun.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        last = last[:-1] + "ies"
    elif last == "person":
        last = "people"
    else:
        last += "s"
    return (head + " " if head else "") + last


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


# --- slots: how a person says a stated value ------------------------------------------------------------------------

ADDRESS_PARTS = {"line1": "street address", "line2": "apartment", "address_line1": "street address",
                 "address_line2": "apartment", "street": "street", "street_address": "street address",
                 "address1": "street address", "address2": "apartment", "city": "city", "town": "city",
                 "state": "state", "state_code": "state", "region": "region", "province": "province",
                 "postal_code": "postcode", "zip": "ZIP code", "zip_code": "ZIP code", "zipcode": "ZIP code",
                 "postcode": "postcode", "country": "country", "country_code": "country"}
# parameter name (snake case) -> the words a person uses for it; parameters absent here and not plain words are
# never stated by name
SLOTS: dict[str, str] = {
    **ADDRESS_PARTS, "q": "search", "query": "search", "keyword": "search", "keywords": "search", "term": "search",
    "search": "search", "text_query": "search", "title": "title", "name": "name", "summary": "title",
    "subject": "subject", "headline": "headline", "label": "label", "display_name": "name", "full_name": "name",
    "first_name": "first name", "last_name": "last name", "given_name": "first name", "family_name": "last name",
    "email": "email address", "email_address": "email address", "phone": "phone number",
    "phone_number": "phone number", "mobile": "mobile number", "description": "description", "body": "text",
    "text": "text", "content": "text", "message": "message", "note": "note", "notes": "note", "comment": "comment",
    "reason": "reason", "date": "date", "day": "day", "start": "start", "end": "end", "start_time": "start",
    "end_time": "end", "starts_at": "start", "ends_at": "end", "start_date": "start date", "end_date": "end date",
    "due": "due date", "due_date": "due date", "deadline": "deadline", "time": "time", "timezone": "time zone",
    "time_zone": "time zone", "duration": "duration", "duration_minutes": "length", "minutes": "length",
    "quantity": "quantity", "qty": "quantity", "count": "number", "amount": "amount", "price": "price",
    "currency": "currency", "origin": "origin", "destination": "destination", "from": "origin", "to": "destination",
    "location": "location", "place": "place", "address": "address", "color": "colour", "colour": "colour",
    "category": "category", "tag": "tag", "tags": "tags", "status": "status", "priority": "priority",
    "language": "language", "locale": "language", "seat": "seat", "seat_number": "seat", "cabin": "cabin",
    "cabin_class": "cabin class", "class": "class", "passengers": "passengers", "guests": "guests",
    "passenger_name": "passenger", "guest_name": "guest", "attendees": "attendees", "attendee_emails": "attendees",
    "recipient": "recipient", "recipients": "recipients", "cc": "cc", "bcc": "bcc", "url": "link", "link": "link",
    "website": "website", "path": "path", "filename": "file name", "file_name": "file name", "rating": "rating",
    "visibility": "visibility", "role": "role", "type": "type", "kind": "kind", "format": "format",
    "username": "username", "handle": "handle", "password": "password", "code": "code", "coupon": "coupon",
    "coupon_code": "coupon code", "promo_code": "promo code", "size": "size", "weight": "weight",
    "nights": "nights", "rooms": "rooms", "adults": "adults", "children": "children", "budget": "budget",
    "capacity": "capacity", "sku": "SKU", "isbn": "ISBN", "genre": "genre", "artist": "artist", "album": "album",
    "company": "company", "department": "department", "job_title": "job title", "birthday": "birthday",
    "card_last4": "card", "max_price_cents": "maximum price", "min_price_cents": "minimum price",
    "max_price": "maximum price", "min_price": "minimum price", "in_stock_only": "in-stock filter",
    "time_min": "from", "time_max": "until", "due_min": "due after", "due_max": "due before",
    "created_at_gte": "created after", "created_at_lte": "created before", "updated_at_gte": "updated after",
    "updated_at_lte": "updated before", "updated_min": "updated after", "order_by": "sort order",
    "mime_type": "file type", "html_body": "text", "reply_to": "reply-to address", "ship_to": "shipping address",
    "max_attendees": "attendee limit", "max_members": "member limit", "guests_can_invite_others": "guest invites",
    "guests_can_see_other_guests": "guest list visibility", "anyone_can_add_self": "open sign-up",
}
FILLERS = frozenset({"page", "size", "per", "max", "min", "num", "is", "has", "include", "exclude", "fields"})
JARGON = frozenset({"etag", "uri", "uris", "ip", "uuid", "guid", "cursor", "token", "limit", "offset", "expand",
                    "alt", "prettyprint", "fmt", "key", "api", "callback", "quota", "oauth", "kind", "xgafv",
                    "upload", "mime", "json", "xml", "html", "http", "https", "param", "params", "raw", "str", "int",
                    "bool", "obj", "dict", "enum", "flag", "flags", "meta", "metadata", "ttl", "src", "dst", "ref"})
ENGLISH = re.compile(r"^[a-z]{3,}$")


def slot(param: str) -> str | None:
    """How a person names this parameter, or None when its name is machine jargon (`etag`, `line1`, `page_size`)."""
    low = naming.snake(param)
    if low in SLOTS:
        return SLOTS[low]
    parts = split_words(param)
    if not parts or any(p in FILLERS or p in JARGON or not ENGLISH.match(p) for p in parts) or len(parts) > 3:
        return None
    return " ".join(parts)


def is_address_part(param: str) -> bool:
    return naming.snake(param) in ADDRESS_PARTS


def describe_kind(op: Operation, arguments: dict[str, Any]) -> str:
    """A one-line technical summary (for logs and the recorded plan, never for a user message)."""
    return f"{op.kind} {op.noun or '?'} ({', '.join(arguments)})"
