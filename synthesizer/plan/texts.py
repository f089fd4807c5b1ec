"""Strings for parameters by meaning: titles, names, notes, tags, colours, URLs, paths, codes ... in the theme of
the tool's resource (a playlist gets a playlist's name, a note a note's title), and, when nothing is known of a
parameter, a short phrase from its own words and the resource. Never a filler word ("garden", "blue")."""

from __future__ import annotations

import random
import re

from common import naming
from synthesizer.plan.meaning import Param, described_values

PLACEHOLDERS = frozenset({"coffee", "blue", "travel", "weekly", "garden", "wireless"})  # the old generator's fillers
VERBS = frozenset("create add insert new make update edit modify change set patch put get list read fetch find search "
                  "delete remove cancel send post upload download batch import export move copy clear query count "
                  "from to by for of the a me my all".split())

THEMES: dict[str, frozenset[str]] = {
    "event": frozenset("event events meeting calendar calendars appointment instance instances acl slot".split()),
    "task": frozenset("task tasks tasklist tasklists todo todos reminder".split()),
    "note": frozenset("note notes memo".split()),
    "mail": frozenset("email emails mail message messages template templates outbound inbound bounce bounces "
                      "server sender signature stream".split()),
    "music": frozenset("playlist playlists track tracks album albums artist artists song songs episode show "
                       "shows audiobook".split()),
    "product": frozenset("product products catalog inventory item stock".split()),
    "pet": frozenset("pet pets".split()),
    "file": frozenset("file files document documents attachment folder folders upload".split()),
    "vault": frozenset("vault vaults secret secrets login credential".split()),
    "chat": frozenset("conversation conversations member members leg legs chat".split()),
    "contact": frozenset("contact contacts people person group groups".split()),
    "finance": frozenset("invoice invoices partner partners bank payment payments account accounts block "
                         "conversion".split()),
    "shipping": frozenset("shipment shipments shipping quote label parcel package".split()),
    "fitness": frozenset("fitness workout activity dataset datasets session sessions source sources".split()),
    "social": frozenset("profile profiles update updates schedule schedules social".split()),
    "ride": frozenset("ride rides driver drivers".split()),
}

TITLES: dict[str, tuple[str, ...]] = {
    "event": ("Quarterly planning", "Design review", "Sprint retrospective", "Budget check-in",
              "Customer onboarding call", "Team lunch", "Dentist appointment", "Board prep", "Hiring panel",
              "Product demo"),
    "task": ("Renew passport", "Send invoice to Northwind", "Book the team offsite venue", "Call the plumber",
             "Submit expense report", "Review contract draft", "Order printer toner"),
    "note": ("Packing list for Lisbon", "Ideas for the team offsite", "Gift ideas", "Lentil soup recipe",
             "Notes from the vendor call", "Books to read this spring"),
    "mail": ("Your March invoice", "Follow-up on yesterday's call", "Welcome aboard!", "Updated agenda for Thursday",
             "Receipt for order 1042", "Reminder: renewal due next week"),
    "music": ("Sunday Morning Jazz", "Road Trip 2026", "Focus Beats", "Running Mix", "Dinner Party Classics"),
    "file": ("Q1 board report", "Signed lease agreement", "Invoice 2026-031", "Brand guidelines"),
    "social": ("Spring launch teaser", "Behind the scenes at the studio", "Customer story: Oakridge Dental"),
}
NAMES: dict[str, tuple[str, ...]] = {
    "event": ("Team Calendar", "Family", "Client Meetings", "On-call Rota", "Book Club"),
    "task": ("Home errands", "Q2 launch", "Move to the new flat", "Office admin"),
    "music": TITLES["music"],
    "product": ("Merino Wool Socks", "Ceramic Pour-Over Set", "Bamboo Cutting Board", "Noise-Cancelling Headphones",
                "Linen Throw Pillow", "Cast Iron Skillet"),
    "pet": ("Biscuit", "Luna", "Mochi", "Pepper", "Rocket", "Hazel"),
    "file": ("q1-board-report.pdf", "lease-agreement.pdf", "invoice-2026-031.pdf", "brand-guidelines.pdf"),
    "vault": ("Family", "Work logins", "Shared with finance", "Home network"),
    "chat": ("Support chat", "Order 1042 follow-up", "Weekend shift handover", "Launch war room"),
    "contact": ("Book club", "Soccer parents", "Clients", "Neighbours", "Suppliers"),
    "finance": ("Northwind Traders", "Kestrel Analytics", "Harbor Lane Bakery", "Oakridge Dental", "Lumen Studio"),
    "shipping": ("Spring order batch", "Returns to supplier", "Replacement parts"),
    "fitness": ("Morning runs", "Cycling commute", "Step counter"),
    "social": ("Studio account", "Company page", "Founder profile"),
    "": ("Project Phoenix", "Spring Sale", "Book Club", "Family Trip", "Home Office", "Weekend Plans"),
}
TEXTS: dict[str, tuple[str, ...]] = {
    "event": ("Agenda: last quarter's numbers, then next steps.", "Please bring the printed agenda.",
              "Dial-in details are in the invite.", "We'll review the draft together."),
    "task": ("Needs to be done before the end of the month.", "Check the receipt folder first.",
             "Ask Laura for the account number."),
    "mail": ("Hi, just confirming our meeting on Thursday at 10. Best regards.",
             "Thanks for your order! Your parcel is on its way.", "Please find the updated agenda attached."),
    "": ("Remember to bring the printed agenda.", "Please confirm by Friday.", "Window seat if possible.",
         "Leave the package at the front desk.", "Discuss the budget and next steps.",
         "Keep this for the tax return.", "Follow up with the supplier next week."),
}
TERMS: dict[str, tuple[str, ...]] = {
    "event": ("standup", "review", "planning", "lunch"), "task": ("invoice", "passport", "report"),
    "note": ("recipe", "packing", "ideas"), "mail": ("invoice", "welcome", "receipt"),
    "music": ("jazz", "focus", "running"), "product": ("kettle", "socks", "headphones"),
    "pet": ("dog", "cat"), "file": ("report", "invoice", "contract"), "contact": ("Chen", "Okafor", "Becker"),
    "": ("invoice", "report", "spring", "planning"),
}
TAGS = ("urgent", "follow-up", "invoices", "vip", "onboarding", "newsletter", "receipts", "q2-planning", "family",
        "work")
CATEGORIES = ("Office supplies", "Software", "Meals", "Utilities", "Marketing", "Books", "Home & kitchen")
COLORS = ("teal", "navy", "amber", "crimson", "forest green", "lavender", "charcoal", "coral")
HEX_COLORS = ("#1F77B4", "#2CA02C", "#D62728", "#9467BD", "#FF7F0E", "#17BECF", "#3A7BD5")
REASONS = ("Plans changed", "Ordered the wrong size", "Arrived damaged", "Duplicate booking", "No longer needed")
LABELS = ("Home", "Office", "Parents' place", "Work", "Holiday flat")
UNITS = ("piece", "hour", "kg", "month", "licence")
MIMES = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "txt": "text/plain",
         "csv": "text/csv", "json": "application/json"}


def resource_words(tool_tokens: list[str]) -> list[str]:
    """`create_user_playlist` -> [user, playlist]; `events_insert` -> [event]."""
    return [naming.singular(t) for t in tool_tokens if t not in VERBS and not t.isdigit()]


def theme_of(tool_tokens: list[str], path: tuple[str, ...] = ()) -> str:
    words = [naming.singular(naming.snake(p)) for p in reversed(path)] + list(reversed(resource_words(tool_tokens)))
    for w in words:
        for theme, keys in THEMES.items():
            if w in keys or naming.singular(w) in keys:
                return theme
    return ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def phrase(p: Param, tool_tokens: list[str]) -> str:
    """A value built from the parameter's own words and the tool's resource: `Shipment custom message`."""
    words = [w for w in p.tokens if w not in VERBS and w not in PLACEHOLDERS]
    resource = [w for w in resource_words(tool_tokens)[-1:] if w not in words and w not in PLACEHOLDERS]
    text = " ".join([*resource, *words]) or "details"
    return text[:1].upper() + text[1:]


def _pick(table: dict[str, tuple[str, ...]], theme: str, rng: random.Random) -> str:
    return rng.choice(table.get(theme) or table[""])


def text_for(kind: str | None, p: Param, tool_tokens: list[str], rng: random.Random,
             terms: list[str] | None = None) -> str:
    """A string for a parameter of a non-situated meaning (`kind` from meaning.kind_of, None: unknown)."""
    theme = theme_of(tool_tokens, p.path)
    desc = p.desc.lower()
    described = [v for v in described_values(p.desc) if v.lower() not in PLACEHOLDERS]
    if kind in ("choice", "status", "sort", "order", "format", "mime", "field_mask", "code", None) and described:
        return rng.choice(described)
    if kind == "title":
        return rng.choice(TITLES.get(theme) or TITLES["event"] + TITLES["task"])
    if kind == "name":
        return _pick(NAMES, theme, rng)
    if kind == "label":
        return rng.choice(LABELS if "address" in " ".join(tool_tokens) else TAGS)
    if kind == "text":
        return _pick(TEXTS, theme, rng)
    if kind == "html":
        return f"<p>{_pick(TEXTS, theme, rng)}</p>"
    if kind == "reason":
        return rng.choice(REASONS)
    if kind == "query":
        return rng.choice(terms) if terms else _pick(TERMS, theme, rng)
    if kind == "tag":
        return rng.choice(TAGS)
    if kind == "category":
        return rng.choice(CATEGORIES)
    if kind == "color":
        return rng.choice(HEX_COLORS) if re.search(r"hex|#|rgb", desc) else rng.choice(COLORS)
    if kind == "status":
        return rng.choice(("active", "pending", "completed"))
    if kind == "sort":
        return rng.choice(("created_at", "name", "updated_at"))
    if kind == "order":
        return rng.choice(("asc", "desc"))
    if kind == "format":
        return rng.choice(("json", "csv", "pdf"))
    if kind == "mime":
        return rng.choice(list(MIMES.values()))
    if kind == "url":
        return url_for(p, tool_tokens, rng)
    if kind == "path":
        return path_for(p, tool_tokens, rng)
    if kind == "pointer":
        return rng.choice(("/title", "/tags", "/fields/0/value"))
    if kind == "filename":
        return rng.choice(NAMES["file"])
    if kind == "slug":
        return slug(_pick(NAMES, theme, rng))
    if kind == "sku":
        return f"{rng.choice(('KTL', 'SCK', 'HDP', 'BRD'))}-{rng.randint(1000, 9999)}"
    if kind == "version":
        return f"{rng.randint(1, 4)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}"
    if kind == "password":
        return f"{rng.choice(('Maple', 'Harbor', 'Kestrel', 'Juniper'))}-{rng.randint(1000, 9999)}-{rng.choice('!#%&')}"
    if kind == "pin":
        return f"{rng.randint(0, 999999):06d}"
    if kind == "ip":
        return f"203.0.113.{rng.randint(1, 254)}"
    if kind == "hostname":
        return rng.choice(("mail.example.com", "app.example.org", "files.example.net"))
    if kind == "recurrence":
        return rng.choice(("RRULE:FREQ=WEEKLY;BYDAY=MO", "RRULE:FREQ=DAILY;COUNT=5", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1"))
    if kind == "swift":
        return f"{rng.choice(('NWBK', 'DEUT', 'BNPA', 'INGB'))}{rng.choice(('GB', 'DE', 'FR', 'NL'))}2L"
    if kind == "vat":
        return f"{rng.randint(10000000, 99999999)}-{rng.randint(1, 5)}-{rng.randint(10, 44)}"
    if kind == "unit":
        return rng.choice(UNITS)
    if kind == "field_mask":
        listed = re.findall(r"\*\s*([A-Za-z]+)", p.desc)
        return ",".join(listed[:2]) if listed else "names,emailAddresses"
    if kind == "digits":
        if "card" in p.snake:
            return "4242424242424242"
        return str(rng.randint(10 ** 7, 10 ** 10 - 1))
    if kind == "code":
        return f"{rng.choice(('SPRING', 'WELCOME', 'VIP', 'SAVE'))}{rng.randint(10, 30)}"
    if kind == "opaque":
        return "".join(rng.choice("0123456789abcdef") for _ in range(16))
    return phrase(p, tool_tokens)


def url_for(p: Param, tool_tokens: list[str], rng: random.Random) -> str:
    """A real-looking URL: the resource's collection and a slug (`https://www.example.com/playlists/focus-beats`)."""
    snake = p.snake
    theme = theme_of(tool_tokens, p.path)
    name = slug(_pick(NAMES, theme, rng).rsplit(".", 1)[0])
    if re.search(r"image|photo|avatar|icon|picture|logo", snake):
        return f"https://images.example.com/{name}.{rng.choice(('jpg', 'png'))}"
    collection = (resource_words(tool_tokens)[-1:] or ["page"])[0]
    if re.search(r"webhook|callback|hook|notify", snake):
        return f"https://hooks.example.com/{collection}-events"
    if re.search(r"video|meet|conference|hangout", snake):
        return f"https://meet.example.com/{name}"
    return f"https://www.example.com/{collection}s/{name}"


def path_for(p: Param, tool_tokens: list[str], rng: random.Random) -> str:
    """An absolute path: a folder for folder/directory parameters, else a file in one."""
    folder = rng.choice(("/home/mei/Documents", "/projects/q2-launch", "/shared/finance/2026", "/srv/data/reports"))
    if re.search(r"folder|dir|directory", p.snake):
        return folder
    return f"{folder}/{rng.choice(NAMES['file'])}"
