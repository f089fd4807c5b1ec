"""A small gazetteer: real places whose parts agree, and a check that given address parts agree.

The synthesizer fills every address part of one call from one `Place` (a city with its real region, a real postal
code of that city, the country, its phone prefix, currency, time zone and language), so an address never reads
"Paris, OR 10001". The data-quality report asks `coherent` whether the parts of an address it finds agree.

Only data and pure functions here (no I/O). Region codes are ISO 3166-2 subdivision codes without the country
prefix (US `OR`, DE `BY`, JP `13`); postal codes are real codes of the city, `postal_area` a regular expression that
codes of the city start with (used to tell a code of another city).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    alpha3: str
    name: str
    aliases: tuple[str, ...]
    phone_prefix: str
    currency: str  # ISO 4217
    postal_format: str  # a full-match regular expression over the upper-cased code
    street_style: str  # "{n} {s}", "{s} {n}", "{s}, {n}" or "{b} {s}" (Japanese block numbers)


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    region_code: str
    postal_code: str
    country_code: str
    time_zone: str
    language: str  # BCP 47 tag
    phone_area: str
    lat: float
    lng: float
    streets: tuple[str, ...]
    postal_area: str
    aliases: tuple[str, ...] = ()
    region_aliases: tuple[str, ...] = ()

    @property
    def country(self) -> Country:
        return COUNTRIES[self.country_code]

    def street_line(self, rng: random.Random) -> str:
        """A plausible first address line on one of the city's real streets: `221 Baker Street`."""
        street = rng.choice(self.streets)
        style = self.country.street_style
        if style == "{b} {s}":
            return f"{rng.randint(1, 4)}-{rng.randint(1, 12)}-{rng.randint(1, 20)} {street}"
        n = rng.randint(1, 2400) if self.country_code in ("US", "CA", "AU") else rng.randint(1, 180)
        return style.format(n=n, s=street)

    def phone(self, rng: random.Random, compact: bool = False) -> str:
        """A phone number in the city's area: the fictional 555-01xx range in North America, others random."""
        if self.country_code in ("US", "CA"):
            rest = f"555 01{rng.randint(0, 99):02d}"
        elif self.country_code == "GB":
            rest = f"{'7946' if self.phone_area == '20' else '496'} 0{rng.randint(0, 999):03d}"
        else:  # the national number's usual length, split into two groups
            digits = NATIONAL_DIGITS.get(self.country_code, 9) - len(self.phone_area)
            rest = str(rng.randint(2 * 10 ** (digits - 1), 10 ** digits - 1))
            rest = f"{rest[:-4]} {rest[-4:]}"
        number = f"{self.country.phone_prefix} {self.phone_area} {rest}"
        return number.replace(" ", "") if compact else number

    def one_line(self, rng: random.Random) -> str:
        """A whole postal address on one line, in the country's usual order."""
        street, c = self.street_line(rng), self.country
        if c.code in ("US", "CA", "AU"):
            return f"{street}, {self.city}, {self.region_code} {self.postal_code}, {c.name}"
        if c.code in ("GB", "JP", "IN"):
            return f"{street}, {self.city} {self.postal_code}, {c.name}"
        return f"{street}, {self.postal_code} {self.city}, {c.name}"


COUNTRIES: dict[str, Country] = {c.code: c for c in (
    Country("US", "USA", "United States", ("United States of America", "USA", "U.S.", "U.S.A.", "America"), "+1",
            "USD", r"\d{5}(-\d{4})?", "{n} {s}"),
    Country("GB", "GBR", "United Kingdom", ("UK", "U.K.", "Great Britain", "Britain"), "+44", "GBP",
            r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "{n} {s}"),
    Country("DE", "DEU", "Germany", ("Deutschland",), "+49", "EUR", r"\d{5}", "{s} {n}"),
    Country("FR", "FRA", "France", (), "+33", "EUR", r"\d{5}", "{n} {s}"),
    Country("ES", "ESP", "Spain", ("España", "Espana"), "+34", "EUR", r"\d{5}", "{s}, {n}"),
    Country("IT", "ITA", "Italy", ("Italia",), "+39", "EUR", r"\d{5}", "{s}, {n}"),
    Country("NL", "NLD", "Netherlands", ("The Netherlands", "Holland", "Nederland"), "+31", "EUR",
            r"\d{4} ?[A-Z]{2}", "{s} {n}"),
    Country("JP", "JPN", "Japan", ("Nippon",), "+81", "JPY", r"\d{3}-?\d{4}", "{b} {s}"),
    Country("BR", "BRA", "Brazil", ("Brasil",), "+55", "BRL", r"\d{5}-?\d{3}", "{s}, {n}"),
    Country("IN", "IND", "India", ("Bharat",), "+91", "INR", r"\d{6}", "{n} {s}"),
    Country("CA", "CAN", "Canada", (), "+1", "CAD", r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "{n} {s}"),
    Country("AU", "AUS", "Australia", (), "+61", "AUD", r"\d{4}", "{n} {s}"),
    Country("MX", "MEX", "Mexico", ("México",), "+52", "MXN", r"\d{5}", "{s} {n}"),
    Country("KE", "KEN", "Kenya", (), "+254", "KES", r"\d{5}", "{n} {s}"),
)}

PLACES: tuple[Place, ...] = (
    Place("New York", "New York", "NY", "10001", "US", "America/New_York", "en-US", "212", 40.7506, -73.9972,
          ("West 34th Street", "Broadway", "8th Avenue"), r"10[0-2]", ("New York City", "NYC")),
    Place("San Francisco", "California", "CA", "94103", "US", "America/Los_Angeles", "en-US", "415", 37.7725,
          -122.4091, ("Mission Street", "Valencia Street", "Folsom Street"), r"941"),
    Place("Chicago", "Illinois", "IL", "60601", "US", "America/Chicago", "en-US", "312", 41.8853, -87.6216,
          ("North Michigan Avenue", "East Randolph Street", "West Lake Street"), r"60[67]"),
    Place("Austin", "Texas", "TX", "78701", "US", "America/Chicago", "en-US", "512", 30.2711, -97.7437,
          ("Congress Avenue", "East 6th Street", "Lavaca Street"), r"787"),
    Place("Seattle", "Washington", "WA", "98101", "US", "America/Los_Angeles", "en-US", "206", 47.6114, -122.3305,
          ("Pike Street", "Pine Street", "4th Avenue"), r"981"),
    Place("Boston", "Massachusetts", "MA", "02108", "US", "America/New_York", "en-US", "617", 42.3576, -71.0649,
          ("Beacon Street", "Tremont Street", "Newbury Street"), r"02[12]"),
    Place("Portland", "Oregon", "OR", "97205", "US", "America/Los_Angeles", "en-US", "503", 45.5205, -122.6887,
          ("SW Morrison Street", "SW Alder Street", "NW 23rd Avenue"), r"972"),
    Place("Denver", "Colorado", "CO", "80202", "US", "America/Denver", "en-US", "303", 39.7525, -104.9995,
          ("Larimer Street", "Blake Street", "16th Street"), r"802"),
    Place("Miami", "Florida", "FL", "33131", "US", "America/New_York", "en-US", "305", 25.7617, -80.1918,
          ("Brickell Avenue", "SE 1st Street", "Biscayne Boulevard"), r"33[12]"),
    Place("Washington", "District of Columbia", "DC", "20001", "US", "America/New_York", "en-US", "202", 38.9101,
          -77.0147, ("K Street NW", "Massachusetts Avenue NW", "H Street NE"), r"20[0-5]",
          ("Washington, D.C.", "Washington DC"), ("Washington, D.C.", "D.C.")),
    Place("London", "England", "ENG", "NW1 6XE", "GB", "Europe/London", "en-GB", "20", 51.5237, -0.1585,
          ("Baker Street", "Marylebone High Street", "Gloucester Place"), r"(E|EC|N|NW|SE|SW|W|WC)\d"),
    Place("Edinburgh", "Scotland", "SCT", "EH1 2NG", "GB", "Europe/London", "en-GB", "131", 55.9486, -3.1999,
          ("Princes Street", "George Street", "Rose Street"), r"EH\d"),
    Place("Birmingham", "England", "ENG", "B1 2ND", "GB", "Europe/London", "en-GB", "121", 52.4797, -1.9086,
          ("Broad Street", "New Street", "Colmore Row"), r"B\d"),
    Place("Berlin", "Berlin", "BE", "10117", "DE", "Europe/Berlin", "de-DE", "30", 52.5170, 13.3889,
          ("Friedrichstraße", "Unter den Linden", "Oranienburger Straße"), r"1[0-4]"),
    Place("Munich", "Bavaria", "BY", "80331", "DE", "Europe/Berlin", "de-DE", "89", 48.1374, 11.5755,
          ("Kaufingerstraße", "Sendlinger Straße", "Leopoldstraße"), r"8[01]", ("München",), ("Bayern",)),
    Place("Hamburg", "Hamburg", "HH", "20095", "DE", "Europe/Berlin", "de-DE", "40", 53.5503, 10.0006,
          ("Mönckebergstraße", "Spitalerstraße", "Jungfernstieg"), r"2[0-2]"),
    Place("Paris", "Île-de-France", "IDF", "75001", "FR", "Europe/Paris", "fr-FR", "1", 48.8606, 2.3376,
          ("Rue de Rivoli", "Rue Saint-Honoré", "Boulevard Haussmann"), r"75"),
    Place("Lyon", "Auvergne-Rhône-Alpes", "ARA", "69002", "FR", "Europe/Paris", "fr-FR", "4", 45.7578, 4.8320,
          ("Rue de la République", "Rue Victor Hugo", "Quai Saint-Antoine"), r"69"),
    Place("Madrid", "Community of Madrid", "MD", "28013", "ES", "Europe/Madrid", "es-ES", "91", 40.4200, -3.7058,
          ("Gran Vía", "Calle de Alcalá", "Calle Mayor"), r"28", (), ("Comunidad de Madrid", "Madrid")),
    Place("Rome", "Lazio", "62", "00186", "IT", "Europe/Rome", "it-IT", "06", 41.8986, 12.4769,
          ("Via del Corso", "Via Nazionale", "Via dei Coronari"), r"001", ("Roma",)),
    Place("Amsterdam", "North Holland", "NH", "1012 JS", "NL", "Europe/Amsterdam", "nl-NL", "20", 52.3731, 4.8926,
          ("Damrak", "Kalverstraat", "Prinsengracht"), r"10\d\d", (), ("Noord-Holland",)),
    Place("Tokyo", "Tokyo", "13", "100-0005", "JP", "Asia/Tokyo", "ja-JP", "3", 35.6812, 139.7671,
          ("Marunouchi, Chiyoda-ku", "Yurakucho, Chiyoda-ku", "Ginza, Chuo-ku"), r"(1\d\d|20[0-8])"),
    Place("Osaka", "Osaka", "27", "530-0001", "JP", "Asia/Tokyo", "ja-JP", "6", 34.7025, 135.4959,
          ("Umeda, Kita-ku", "Sonezaki, Kita-ku", "Namba, Chuo-ku"), r"5[3-5]\d"),
    Place("Kyoto", "Kyoto", "26", "600-8216", "JP", "Asia/Tokyo", "ja-JP", "75", 34.9858, 135.7588,
          ("Higashishiokoji-cho, Shimogyo-ku", "Karasuma-dori, Nakagyo-ku"), r"6(0\d|1[0-6])"),
    Place("São Paulo", "São Paulo", "SP", "01310-100", "BR", "America/Sao_Paulo", "pt-BR", "11", -23.5614,
          -46.6559, ("Avenida Paulista", "Rua Augusta", "Rua Oscar Freire"), r"0([1-5]|8[0-4])", ("Sao Paulo",),
          ("Sao Paulo",)),
    Place("Rio de Janeiro", "Rio de Janeiro", "RJ", "22021-001", "BR", "America/Sao_Paulo", "pt-BR", "21",
          -22.9711, -43.1822, ("Avenida Atlântica", "Rua Barata Ribeiro", "Rua Visconde de Pirajá"), r"2[0-3]"),
    Place("Mumbai", "Maharashtra", "MH", "400001", "IN", "Asia/Kolkata", "en-IN", "22", 18.9388, 72.8354,
          ("Dadabhai Naoroji Road", "Veer Nariman Road", "Colaba Causeway"), r"400", ("Bombay",)),
    Place("Bengaluru", "Karnataka", "KA", "560001", "IN", "Asia/Kolkata", "en-IN", "80", 12.9756, 77.6067,
          ("MG Road", "Brigade Road", "Church Street"), r"56", ("Bangalore",)),
    Place("New Delhi", "Delhi", "DL", "110001", "IN", "Asia/Kolkata", "en-IN", "11", 28.6315, 77.2167,
          ("Janpath", "Barakhamba Road", "Kasturba Gandhi Marg"), r"110", ("Delhi",)),
    Place("Toronto", "Ontario", "ON", "M5H 2N2", "CA", "America/Toronto", "en-CA", "416", 43.6534, -79.3841,
          ("Queen Street West", "Bay Street", "King Street East"), r"M"),
    Place("Montreal", "Quebec", "QC", "H2Y 1C6", "CA", "America/Toronto", "fr-CA", "514", 45.5088, -73.5540,
          ("Rue Notre-Dame Est", "Rue Saint-Paul Ouest", "Rue Sainte-Catherine Ouest"), r"H", ("Montréal",),
          ("Québec",)),
    Place("Sydney", "New South Wales", "NSW", "2000", "AU", "Australia/Sydney", "en-AU", "2", -33.8688, 151.2093,
          ("George Street", "Pitt Street", "Macquarie Street"), r"2[01]"),
    Place("Melbourne", "Victoria", "VIC", "3000", "AU", "Australia/Melbourne", "en-AU", "3", -37.8136, 144.9631,
          ("Collins Street", "Flinders Street", "Bourke Street"), r"3[01]"),
    Place("Mexico City", "Mexico City", "CMX", "06000", "MX", "America/Mexico_City", "es-MX", "55", 19.4326,
          -99.1332, ("Avenida Francisco I. Madero", "Paseo de la Reforma", "Calle República de Uruguay"),
          r"(0[1-9]|1[0-6])", ("Ciudad de México", "CDMX"), ("Ciudad de México", "CDMX", "DF")),
    Place("Nairobi", "Nairobi City", "30", "00100", "KE", "Africa/Nairobi", "en-KE", "20", -1.2864, 36.8172,
          ("Kenyatta Avenue", "Moi Avenue", "Kimathi Street"), r"00", (), ("Nairobi",)),
)

NATIONAL_DIGITS: dict[str, int] = {"DE": 10, "FR": 9, "ES": 9, "IT": 10, "NL": 9, "JP": 9, "BR": 10, "IN": 10,
                                   "AU": 9, "MX": 10, "KE": 9}

# Every US state and DC with the first digit of its ZIP codes (the national area: 0 New England ... 9 the West).
US_STATES: dict[str, tuple[str, str]] = {
    "AL": ("Alabama", "3"), "AK": ("Alaska", "9"), "AZ": ("Arizona", "8"), "AR": ("Arkansas", "7"),
    "CA": ("California", "9"), "CO": ("Colorado", "8"), "CT": ("Connecticut", "0"), "DE": ("Delaware", "1"),
    "DC": ("District of Columbia", "2"), "FL": ("Florida", "3"), "GA": ("Georgia", "3"), "HI": ("Hawaii", "9"),
    "ID": ("Idaho", "8"), "IL": ("Illinois", "6"), "IN": ("Indiana", "4"), "IA": ("Iowa", "5"),
    "KS": ("Kansas", "6"), "KY": ("Kentucky", "4"), "LA": ("Louisiana", "7"), "ME": ("Maine", "0"),
    "MD": ("Maryland", "2"), "MA": ("Massachusetts", "0"), "MI": ("Michigan", "4"), "MN": ("Minnesota", "5"),
    "MS": ("Mississippi", "3"), "MO": ("Missouri", "6"), "MT": ("Montana", "5"), "NE": ("Nebraska", "6"),
    "NV": ("Nevada", "8"), "NH": ("New Hampshire", "0"), "NJ": ("New Jersey", "0"), "NM": ("New Mexico", "8"),
    "NY": ("New York", "01"), "NC": ("North Carolina", "2"), "ND": ("North Dakota", "5"), "OH": ("Ohio", "4"),
    "OK": ("Oklahoma", "7"), "OR": ("Oregon", "9"), "PA": ("Pennsylvania", "1"), "RI": ("Rhode Island", "0"),
    "SC": ("South Carolina", "2"), "SD": ("South Dakota", "5"), "TN": ("Tennessee", "3"), "TX": ("Texas", "7"),
    "UT": ("Utah", "8"), "VT": ("Vermont", "0"), "VA": ("Virginia", "2"), "WA": ("Washington", "9"),
    "WV": ("West Virginia", "2"), "WI": ("Wisconsin", "5"), "WY": ("Wyoming", "8"),
}

# IBAN layout after the country code and check digits: n digits, a upper-case letters, c alphanumerics.
IBAN_LAYOUTS: dict[str, str] = {"DE": "18n", "GB": "4a14n", "FR": "23n", "ES": "20n", "IT": "1a22n", "NL": "4a10n",
                                "BR": "23n1a1c"}


def norm(text: object) -> str:
    """Case-, accent- and punctuation-blind form of a name: `Île-de-France` -> `ile de france`."""
    plain = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain.lower()).split())


def places(country: str | None = None) -> list[Place]:
    return [p for p in PLACES if country is None or p.country_code == country.upper()]


def country_of(value: object) -> Country | None:
    """The country a code (alpha-2/alpha-3) or name stands for."""
    key = norm(value)
    for c in COUNTRIES.values():
        if key in (c.code.lower(), c.alpha3.lower(), norm(c.name), *(norm(a) for a in c.aliases)):
            return c
    return None


def iban(country: str, rng: random.Random) -> str | None:
    """A structurally valid IBAN (mod-97 check digits) for a country that uses them, else None."""
    layout = IBAN_LAYOUTS.get(country.upper())
    if layout is None:
        return None
    body = ""
    for count, kind in re.findall(r"(\d+)([nac])", layout):
        pool = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}[kind]
        body += "".join(rng.choice(pool) for _ in range(int(count)))
    digits = "".join(str(int(ch, 36)) for ch in body + country.upper() + "00")
    return f"{country.upper()}{98 - int(digits) % 97:02d}{body}"


# --- coherence --------------------------------------------------------------------------------------------------

ROLE_KEYS: tuple[tuple[str, str], ...] = (  # longest first: `country_code` must not read as a postal `code`
    ("state_or_province", "region"), ("state_province", "region"), ("postal_code", "postal"),
    ("postalcode", "postal"), ("post_code", "postal"), ("country_code", "country"), ("country_name", "country"),
    ("region_code", "region"), ("state_code", "region"), ("zip_code", "postal"), ("postcode", "postal"),
    ("province", "region"), ("zipcode", "postal"), ("country", "country"), ("region", "region"),
    ("state", "region"), ("city", "city"), ("town", "city"), ("zip", "postal"),
)
Verdict = bool | None


def _role(key: str) -> str | None:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower().replace("-", "_").replace(" ", "_")
    for name, role in ROLE_KEYS:
        if snake == name or snake.endswith("_" + name):
            return role
    return None


def address_parts(parts: dict[str, object]) -> dict[str, str]:
    """The address roles (city, region, postal, country) of a dict keyed the way APIs name them."""
    out: dict[str, str] = {}
    for key, value in parts.items():
        role = _role(str(key))
        if role and isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            out.setdefault(role, str(value).strip())
    return out


def _region_matches(place: Place, region: str) -> bool:
    return norm(region) in (norm(place.region), norm(place.region_code), *(norm(a) for a in place.region_aliases))


def _known_region(country: str, region: str) -> bool | None:
    """Whether a region belongs to a country: US states are complete, other countries' lists are partial (None)."""
    key = norm(region)
    if country == "US":
        return any(key in (code.lower(), norm(name)) for code, (name, _) in US_STATES.items())
    return True if any(_region_matches(p, region) for p in places(country)) else None


def _city_entries(country: str, city: str) -> list[Place]:
    key = norm(city)
    return [p for p in places(country) if key in (norm(p.city), *(norm(a) for a in p.aliases))]


def _judge(country: str, got: dict[str, str]) -> tuple[bool, int]:
    """(consistent, number of parts that positively fit) for reading the parts as an address in `country`."""
    yes = 0
    c = COUNTRIES[country]
    if "country" in got:
        if country_of(got["country"]) is not c:
            return False, 0
        yes += 1
    region_ok: bool | None = None
    if "region" in got:
        region_ok = _known_region(country, got["region"])
        if region_ok is False:
            return False, 0
        if region_ok is None and any(_known_region(o, got["region"]) for o in COUNTRIES if o != country):
            return False, 0  # a region of another country (codes are read as that country's)
        yes += bool(region_ok)
    postal = " ".join(got.get("postal", "").upper().split())
    if postal:
        if not re.fullmatch(c.postal_format, postal):
            return False, 0
        yes += 1
        if country == "US" and region_ok:
            code = next(k for k, (n, _) in US_STATES.items() if norm(got["region"]) in (k.lower(), norm(n)))
            if postal[0] not in US_STATES[code][1]:
                return False, 0
    if "city" in got:
        entries = _city_entries(country, got["city"])
        if not entries:
            if any(_city_entries(o, got["city"]) for o in COUNTRIES if o != country):
                return False, 0  # a known city of another country
            return True, yes
        if region_ok:
            entries = [p for p in entries if _region_matches(p, got["region"])]
            if not entries:
                return True, yes  # a city of the same name in another region: cannot tell
        yes += 1
        if postal and not any(re.match(p.postal_area, postal) for p in entries):
            return False, 0
    return True, yes


def coherent(parts: dict[str, object]) -> Verdict:
    """Do the given address parts (any of city, state/state_code/region/province, postal_code/zip/zipcode,
    country/country_code, named as APIs name them) agree? True when at least two parts fit one real place,
    False when no country reads them all consistently, None when it cannot tell (too few known parts).

    Heuristic limits: US states and ZIP areas are complete, other countries' regions and cities are only this
    gazetteer's, and a city of the gazetteer is taken to be that city (a town named Paris in Texas reads as a
    disagreement)."""
    got = address_parts(parts)
    if len(got) < 2:
        return None
    best = -1
    for code in COUNTRIES:
        ok, yes = _judge(code, got)
        if ok:
            best = max(best, yes)
    if best >= 2:
        return True
    if best >= 0:
        return None
    known = (("country" in got and country_of(got["country"]) is not None)
             or ("city" in got and any(_city_entries(c, got["city"]) for c in COUNTRIES))
             or ("region" in got and any(_known_region(c, got["region"]) for c in COUNTRIES)))
    return False if known else None
