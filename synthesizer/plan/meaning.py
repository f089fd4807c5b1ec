"""What a parameter means, read from its name, format, description and place in the arguments.

The value generator asks this before it draws anything: an address part is filled from the call's one place, a
person part from one person, a time from the call's clock, and every other string from a table for its meaning;
nothing falls back to a filler word. Kinds are plain strings (the names below)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from common import naming

ADDRESS = frozenset({"street", "line2", "city", "region", "postal", "country", "county", "po_box", "address"})
LOCALE = frozenset({"currency", "locale", "language", "timezone", "phone", "iban", "location"})
PLACE_KINDS = ADDRESS | LOCALE  # kinds whose value comes from the call's one place
PERSON = frozenset({"person", "first_name", "last_name", "middle_name", "email", "username", "phone", "birth_date",
                    "company", "job_title"})
TIME = frozenset({"datetime", "date", "time", "epoch"})
SITUATED = PLACE_KINDS | PERSON | TIME
OPTIONAL_NEVER = frozenset({"opaque", "line2", "po_box", "county", "middle_name", "field_mask", "password", "ip"})

PERSON_RESOURCES = frozenset(
    "user person people contact customer passenger guest attendee member traveler traveller recipient employee owner "
    "organizer organiser author driver rider patient student participant invitee speaker sender profile "
    "assignee reviewer candidate".split())
MAILISH = frozenset("email emails mail mails message messages send outbound inbound template templates".split())
NEVER_OPTIONAL_NAMES = frozenset(
    "cursor next_cursor page_token offset page etag sync_token user_ip quota_user alt pretty_print prettyprint "
    "callback upload_type upload_protocol xgafv access_token oauth_token key fields kind self_link html_link "
    "hangout_link i_cal_uid sequence resource_name request_id".split())
SKIP_DESCRIPTION = re.compile(r"\bdeprecated\b|\bread-only\b|\bread only\b|\boutput only\b|assigned by the server|"
                              r"\bignored\b|\bdeveloper preview\b", re.IGNORECASE)
US_HINT = re.compile(r"\bUS\b|\bU\.S\.|United States|\bZIP\b")

STREET = {"line1", "address_line1", "address1", "street", "street_address", "street1", "line_1", "address_line_1",
          "street_line1", "addr1", "address_street", "street_line"}
LINE2 = {"line2", "address_line2", "address2", "street2", "extended_address", "line_2", "address_line_2", "apartment",
         "suite", "addr2", "street_line2"}
POSTAL = ("postal_code", "postalcode", "zip_code", "zipcode", "postcode", "post_code", "zip", "postal")
COUNTRY = ("country_code", "country_name", "country_iso", "countrycode", "country")
REGION = ("state_or_province", "state_province", "state_code", "region_code", "province", "prefecture", "region",
          "state")
CITY = ("city_name", "city", "town", "locality")


@dataclass(frozen=True)
class Param:
    """One parameter as the generator sees it: its name, resolved schema and the keys leading to it."""

    name: str
    schema: dict[str, Any]
    path: tuple[str, ...] = ()  # enclosing argument keys, outermost first (array positions left out)
    in_address: bool = False  # a member of an object (or argument list) holding several address parts

    @property
    def snake(self) -> str:
        return naming.snake(self.name) or self.name.lower()

    @property
    def tokens(self) -> list[str]:
        return [t for t in self.snake.split("_") if t]

    @property
    def desc(self) -> str:
        return str(self.schema.get("description", ""))

    @property
    def parent(self) -> str:
        """The nearest enclosing key, singular (`passengers` -> `passenger`), or ''."""
        return naming.singular(naming.snake(self.path[-1])) if self.path else ""


def _ends(snake: str, names: tuple[str, ...] | set[str]) -> bool:
    return any(snake == n or snake.endswith("_" + n) for n in names)


def address_role(name: str) -> str | None:
    """The address part a name stands for, if it clearly is one (`postalCode` -> postal, `line1` -> street)."""
    snake = naming.snake(name)
    if snake in STREET:
        return "street"
    if snake in LINE2:
        return "line2"
    if _ends(snake, POSTAL) and not snake.endswith("_zip_file"):
        return "postal"
    if _ends(snake, COUNTRY):
        return "country"
    if _ends(snake, CITY):
        return "city"
    if _ends(snake, REGION):
        return "region"
    if snake in ("county", "po_box", "pobox"):
        return "county" if snake == "county" else "po_box"
    return None


def is_address_group(names: list[str]) -> bool:
    """Several address parts side by side: the members of one address (`city`, `state`, `postal_code`)."""
    roles = {address_role(n) for n in names} - {None}
    core = roles & {"city", "postal", "region", "street"}
    return len(core) >= 2 or (bool(core) and "country" in roles) or ("street" in roles and "address" in {
        naming.snake(n) for n in names})


def person_context(p: Param, tool_tokens: list[str]) -> bool:
    """Is the enclosing object (or, at the top level, the tool's resource) a person?"""
    if p.path:
        return p.parent in PERSON_RESOURCES or p.parent.endswith(("_person", "_user", "_contact"))
    return bool(tool_tokens) and naming.singular(tool_tokens[-1]) in PERSON_RESOURCES or (
        len(tool_tokens) > 1 and naming.singular(tool_tokens[-2]) in PERSON_RESOURCES and tool_tokens[-1] in (
            "create", "insert", "add", "update", "patch", "get", "search"))


def _emailish(p: Param, tool_tokens: list[str]) -> bool:
    desc = p.desc.lower()
    return "email" in str(p.schema.get("format", "")) or bool(re.search(
        r"e-?mail|\bcc\b|\bbcc\b|recipient|sender", desc)) or bool(MAILISH & set(tool_tokens))


def kind_of(p: Param, tool_tokens: list[str]) -> str | None:
    """The meaning of a string (or string-list item) parameter, or None for plain text of unknown meaning."""
    s, snake, toks = p.schema, p.snake, p.tokens
    last = toks[-1] if toks else ""
    fmt = str(s.get("format", "")).lower()
    desc = p.desc.lower()
    if fmt in ("email", "idn-email"):
        return "email"
    if fmt == "date-time":
        return "datetime"
    if fmt == "date":
        return "birth_date" if re.search(r"birth|(^|_)dob($|_)|born", snake) else "date"
    if fmt == "time":
        return "time"
    if fmt in ("uri", "url", "iri", "uri-reference", "iri-reference"):
        return "url"
    if fmt in ("hostname", "idn-hostname"):
        return "hostname"
    if fmt in ("ipv4", "ipv6"):
        return "ip"
    if fmt in ("uuid", "byte", "binary"):
        return "opaque"
    if fmt == "password":
        return "password"
    if re.search(r"(^|_)(token|cursor|etag|hash|nonce|signature|checksum|uuid|guid)s?$", snake):
        return "opaque"
    role = address_role(p.name)
    if role == "region" and not p.in_address and last == "state" and not re.search(
            r"state code|us state|province|two-letter state|\bstate\b of the address", desc):
        return "status"  # an order's or a task's `state`, not a region
    if role == "region" and "country" in desc and not p.in_address:
        return "country"  # `regionCode`: a CLDR region, i.e. a country
    if role is not None:
        return role
    if snake == "market" and "country" in desc:
        return "country"
    if snake in ("location", "venue", "place", "where", "meeting_place", "origin", "destination") or \
            snake.endswith("_location"):
        return "location"
    if p.in_address and snake in ("address", "address_line", "street_address"):
        return "street"
    if p.in_address and snake in ("formatted_value", "formatted_address", "formatted"):
        return "address"
    if snake in ("address", "full_address", "mailing_address", "postal_address", "billing_address",
                 "shipping_address", "home_address", "street_address"):
        return "address"
    if last in ("currency",) or snake in ("currency_code", "currency_iso"):
        return "currency"
    if last == "locale" or snake == "locale_code":
        return "locale"
    if snake in ("language", "lang", "hl", "language_code", "lang_code") or last == "language":
        return "language"
    if snake in ("timezone", "time_zone", "tz", "tzid", "timezone_id") or snake.endswith(("_time_zone", "_timezone")):
        return "timezone"
    if last == "iban" or snake.startswith("iban") or "iban" in toks:
        return "iban"
    if last in ("swift", "bic") or snake in ("swift_code", "bic_code"):
        return "swift"
    if "email" in toks or snake.endswith(("email", "emails")) or (
            snake in ("cc", "bcc", "reply_to", "replyto", "sender", "from_email", "to_email")):
        return "email"
    if snake in ("to", "from", "from_", "recipient", "recipients") and _emailish(p, tool_tokens):
        return "email"
    if re.search(r"(^|_)(phone|mobile|telephone|tel|fax|msisdn|phone_number)(_|$)", snake) or snake.endswith(
            "phone"):
        return "phone"
    if snake in ("first_name", "firstname", "given_name", "givenname", "forename"):
        return "first_name"
    if snake in ("last_name", "lastname", "family_name", "familyname", "surname"):
        return "last_name"
    if snake in ("middle_name", "middlename"):
        return "middle_name"
    if re.search(r"birth|(^|_)dob($|_)|born", snake):
        return "birth_date"
    if snake in ("username", "user_name", "login", "handle", "screen_name", "nickname", "nick", "user_handle"):
        return "username"
    if snake in ("company", "company_name", "organization", "organisation", "org_name", "employer",
                 "business_name", "organization_name"):
        return "company"
    if snake == "job_title":
        return "job_title"
    if snake in ("full_name", "fullname", "contact_name", "customer_name", "passenger_name", "guest_name",
                 "attendee_name", "traveler_name", "traveller_name", "holder_name", "cardholder", "card_holder",
                 "account_holder", "owner_name", "recipient_name", "sender_name", "author_name", "driver_name",
                 "name_on_card", "recipient", "passenger", "guest", "attendee", "customer", "assignee"):
        return "person"
    if (last == "name" or snake == "display_name") and "label" not in desc and person_context(p, tool_tokens):
        return "person"
    time_kind = _time_kind(snake, toks, desc)
    if time_kind:
        return time_kind
    return _other_kind(p, snake, toks, last, desc)


DATE_NAMES = frozenset({"fromdate", "todate", "since", "until", "due", "deadline", "expires", "expiry", "birthday"})
TIME_NAMES = frozenset({"start", "end", "time", "begin", "finish"})
BOUND_WORDS = frozenset({"min", "max", "since", "until", "after", "before", "updated", "created", "completed",
                         "modified", "published", "deleted", "sent", "due"})


def _time_kind(snake: str, toks: list[str], desc: str) -> str | None:
    """datetime/date/epoch from the name, with the description deciding between a date and a timestamp."""
    if re.search(r"(millis|nanos|(^|_)ms$|epoch|unix)", snake):
        return "epoch"
    stamp = bool(re.search(r"rfc ?3339|iso[ -]?8601|timestamp|date-time|datetime", desc))
    words = set(toks)
    if snake.endswith("_at") or {"datetime", "timestamp"} & words:
        return "datetime"
    if {"date", "day"} & words or snake in DATE_NAMES or snake.endswith("_on"):
        return "datetime" if stamp and not {"date", "day"} & words else "date"
    if snake in TIME_NAMES or ("time" in words and not {"zone", "zones"} & words):
        return "datetime"
    if stamp and BOUND_WORDS & words:
        return "datetime"
    return None


def _other_kind(p: Param, snake: str, toks: list[str], last: str, desc: str) -> str | None:
    if "json pointer" in desc or "rfc6901" in desc:
        return "pointer"
    if {"url", "uri", "urls", "uris", "link", "href", "website", "homepage", "webhook", "callback_url"} & set(toks):
        return "url"
    if {"path", "filepath", "directory", "dirname"} & set(toks):
        return "path"
    if snake in ("filename", "file_name", "file", "attachment_name"):
        return "filename"
    if last in ("title", "subject", "summary", "headline", "heading", "caption") and "override" not in snake:
        return "title"
    if last in ("label", "labels") or (last == "name" and "label" in desc):
        return "label"
    if last in ("html", "html_body", "html_content") or snake.startswith("html_") or snake.endswith("_html"):
        return "html"
    if last == "reason" or snake in ("reason", "cancellation_reason"):
        return "reason"
    if last in ("body", "note", "notes", "description", "message", "comment", "comments", "text", "content",
                "instructions", "bio", "biography", "details", "memo", "remark", "remarks", "summary_text") or (
            snake.endswith("_message") or snake.endswith("_body")):
        return "text"
    if snake in ("q", "query", "keyword", "keywords", "search", "term", "search_term", "text_query", "search_query",
                 "filter", "search_text"):
        return "query"
    if last in ("color", "colour") or snake.endswith(("_color", "_colour")):
        return "color"
    if last in ("tag", "tags", "hashtag", "hashtags"):
        return "tag"
    if last in ("category", "categories", "genre", "genres"):
        return "category"
    if last in ("status", "state"):
        return "status"
    if snake in ("sort", "sort_by", "order_by", "orderby", "sortby", "sort_field"):
        return "sort"
    if snake in ("order", "direction", "sort_order", "sort_direction", "sort_dir", "dir"):
        return "order"
    if snake in ("format", "file_format", "output_format", "export_format"):
        return "format"
    if snake in ("mime", "mime_type", "mimetype", "content_type", "media_type", "contenttype"):
        return "mime"
    if last == "slug":
        return "slug"
    if last == "sku":
        return "sku"
    if last == "version":
        return "version"
    if last in ("password", "secret", "passphrase"):
        return "password"
    if last in ("pin", "passcode") or snake == "access_code":
        return "pin"
    if snake in ("ip", "ip_address", "user_ip", "ipaddress", "remote_ip"):
        return "ip"
    if snake in ("host", "hostname", "domain", "domain_name"):
        return "hostname"
    if last in ("recurrence", "rrule"):
        return "recurrence"
    if snake in ("vat", "vat_number", "vat_id", "tax_id", "taxcode", "tax_code", "tax_number", "vatin"):
        return "vat"
    if last == "unit" or snake == "unit_of_measure":
        return "unit"
    if last in ("fields", "mask") or snake.endswith("_fields") or "field mask" in desc:
        return "field_mask"
    if last in ("number", "no", "num") or snake.endswith("number"):
        return "digits"
    if last == "code":
        return "code"
    if last in ("type", "kind", "role", "method", "mode", "visibility", "level", "priority_level"):
        return "choice"
    if last in ("name", "display_name", "displayname") or snake == "display_name":
        return "name"
    return None


QUOTED = re.compile(r"[\"“`']([^\"”`'\n]{1,60})[\"”`']")
TRIGGER = re.compile(r"possible values|valid values|allowed values|one of|either|always|e\.g\.?|i\.e\.?|"
                     r"for example|such as|example:", re.IGNORECASE)
LIST_TRIGGER = re.compile(r"\b(?:e\.g\.?|i\.e\.?|for example|such as)[,:]?\s+([^.;()\n]{2,120})", re.IGNORECASE)


def described_values(desc: str) -> list[str]:
    """Values a description spells out: `Possible values are: - "none" ...`, `always "tasks#task"`,
    `i.e. Denmark, Russia`, `e.g. "Europe/Zurich"`. Loose words ("a title of a web page") are not values."""
    out: list[str] = []
    for m in TRIGGER.finditer(desc):
        window = desc[m.end():m.end() + 600]
        for q in QUOTED.finditer(window):
            v = q.group(1).strip()
            if v and len(v.split()) <= 4 and v not in out:
                out.append(v)
    for m in LIST_TRIGGER.finditer(desc):
        for item in re.split(r",\s*|\s+or\s+|\s+and\s+", m.group(1)):
            v = item.strip().strip("\"'`").removesuffix(" etc").strip()
            if v and len(v.split()) <= 3 and not re.match(r"(a|an|the|this|that|if|to)\b", v, re.IGNORECASE) and \
                    re.fullmatch(r"[\w .:/+#@,&'-]{1,40}", v) and v not in out:
                out.append(v)
    return out


def skip_optional(p: Param, kind: str | None) -> bool:
    """An optional parameter no user would set: server-assigned, deprecated, opaque, a paging or transport knob."""
    return p.snake in NEVER_OPTIONAL_NAMES or kind in OPTIONAL_NEVER or bool(SKIP_DESCRIPTION.search(p.desc))
