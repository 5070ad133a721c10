"""Synthetic patients for the demo clinic and the benchmark: realistic in shape, never real people.

Names come from Faker's locale lists mixed as a Chicago-area clinic might see them (many with
accents, some with particles such as "van" or "Ó"); every phone number is in the 555-0100..0199
range the North American Numbering Plan keeps for fiction; every email address is at an
`example.*` domain (RFC 2606); street names are Faker's invented ones. The same seed gives the
same patients, in the same order, on every machine (for a given `today`).

`PatientGenerator.patient()` returns plain values with the keys of `patients.actions.PATIENT_FIELDS`
(`primary_clinician` as a user id or None, `mrn` blank so the clinic assigns one) and a list of
contacts with the keys of `patients.actions.CONTACT_FIELDS`.
"""

from __future__ import annotations

import datetime
import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from faker import Faker

from ketacare.lib.text import fold

# (Faker locale, weight). Weights are rough shares of a Chicago-area
# patient list; "zh_CN" is used only through its romanized names.
LOCALES: tuple[tuple[str, int], ...] = (
    ("en_US", 50),
    ("es_MX", 16),
    ("pl_PL", 5),
    ("en_IN", 4),
    ("en_NG", 3),
    ("vi_VN", 3),
    ("en_IE", 3),
    ("pt_BR", 3),
    ("fr_FR", 2),
    ("it_IT", 2),
    ("zh_CN", 3),
    ("hu_HU", 1),
    ("cs_CZ", 1),
    ("sv_SE", 1),
    ("nl_NL", 1),
    ("yo_NG", 2),
)


@dataclass(frozen=True)
class Region:
    """Where patients live: area codes (always with a 555-01XX number) and (city, state, ZIP)."""

    area_codes: tuple[str, ...]
    places: tuple[tuple[str, str, str], ...]


# Real places and ZIP codes (place names are not personal data).
CHICAGO_PLACES: tuple[tuple[str, str, str], ...] = (
    ("Chicago", "IL", "60614"),
    ("Chicago", "IL", "60657"),
    ("Chicago", "IL", "60640"),
    ("Chicago", "IL", "60647"),
    ("Chicago", "IL", "60618"),
    ("Chicago", "IL", "60625"),
    ("Chicago", "IL", "60608"),
    ("Chicago", "IL", "60615"),
    ("Chicago", "IL", "60622"),
    ("Chicago", "IL", "60626"),
    ("Chicago", "IL", "60643"),
    ("Evanston", "IL", "60201"),
    ("Oak Park", "IL", "60302"),
    ("Skokie", "IL", "60076"),
    ("Cicero", "IL", "60804"),
    ("Berwyn", "IL", "60402"),
    ("Naperville", "IL", "60540"),
    ("Schaumburg", "IL", "60193"),
    ("Des Plaines", "IL", "60016"),
    ("Aurora", "IL", "60505"),
    ("Joliet", "IL", "60435"),
    ("Elgin", "IL", "60120"),
    ("Oak Lawn", "IL", "60453"),
    ("Waukegan", "IL", "60085"),
    ("Hammond", "IN", "46320"),
)
CHICAGO = Region(area_codes=("312", "773", "872", "708", "630", "847", "331", "219"), places=CHICAGO_PLACES)
DENVER = Region(
    area_codes=("303", "720", "970"),
    places=(
        ("Denver", "CO", "80205"),
        ("Denver", "CO", "80218"),
        ("Denver", "CO", "80211"),
        ("Aurora", "CO", "80012"),
        ("Lakewood", "CO", "80226"),
        ("Englewood", "CO", "80110"),
        ("Boulder", "CO", "80302"),
    ),
)

NICKNAMES: dict[str, tuple[str, ...]] = {
    "robert": ("Bob", "Rob", "Bobby"),
    "william": ("Will", "Bill", "Liam"),
    "elizabeth": ("Liz", "Beth", "Eliza"),
    "jennifer": ("Jen", "Jenny"),
    "michael": ("Mike", "Mikey"),
    "katherine": ("Kate", "Katie"),
    "catherine": ("Cat", "Cathy"),
    "christopher": ("Chris", "Topher"),
    "margaret": ("Maggie", "Peggy"),
    "james": ("Jim", "Jamie"),
    "joseph": ("Joe", "Joey"),
    "jessica": ("Jess",),
    "rebecca": ("Becca", "Becky"),
    "alexander": ("Alex", "Xander"),
    "alejandro": ("Alex", "Jando"),
    "francisco": ("Paco", "Pancho", "Frank"),
    "jose": ("Pepe",),
    "guadalupe": ("Lupe",),
    "jesus": ("Chuy",),
    "ignacio": ("Nacho",),
    "roberto": ("Beto",),
    "eduardo": ("Lalo",),
    "daniel": ("Dan", "Danny"),
    "anthony": ("Tony",),
    "nicholas": ("Nick",),
    "patricia": ("Patty", "Trish"),
    "samantha": ("Sam",),
    "stephanie": ("Steph",),
    "matthew": ("Matt",),
    "timothy": ("Tim",),
    "benjamin": ("Ben",),
    "thomas": ("Tom", "Tommy"),
    "richard": ("Rick", "Rich"),
    "deborah": ("Deb", "Debbie"),
    "victoria": ("Tori", "Vicky"),
    "andrew": ("Andy", "Drew"),
    "jonathan": ("Jon",),
    "zachary": ("Zach",),
    "joshua": ("Josh",),
    "gabriel": ("Gabe",),
    "kimberly": ("Kim",),
    "nathaniel": ("Nate",),
    "małgorzata": ("Gosia",),
    "aleksandra": ("Ola",),
    "katarzyna": ("Kasia",),
    "wojciech": ("Wojtek",),
}

NEUTRAL_NAMES = ("Alex", "Sam", "Jules", "River", "Rowan", "Quinn", "Sky", "Ari", "Kai", "Remy", "Avery", "Emery")

# (gender identity, pronouns, sexes at birth it goes with, weight) for patients who recorded one.
IDENTITIES: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("Woman", "she/her", ("female",), 40),
    ("Man", "he/him", ("male",), 40),
    ("Non-binary", "they/them", ("female", "male"), 4),
    ("Genderqueer", "they/them", ("female", "male"), 1),
    ("Woman", "she/they", ("female",), 2),
    ("Man", "he/they", ("male",), 1),
    ("Transgender woman", "she/her", ("male",), 2),
    ("Transgender man", "he/him", ("female",), 2),
)

EMERGENCY_NOTES = (
    "",
    "",
    "",
    "Prefers a text message first.",
    "Works nights; call after 2 pm.",
    "Speaks Spanish and English.",
    "Has a copy of the safety plan.",
    "Call the landline if no answer on mobile.",
)
ESCORT_NOTES = (
    "Drives the patient home after every session.",
    "Available Tuesdays and Thursdays.",
    "Call 30 minutes before discharge.",
    "Waits in the lobby during treatment.",
    "Picks up at the side entrance; prefers a text message.",
    "Backup driver only; call the primary escort first.",
    "",
)

_ASCII_FIX = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "þ": "th"})
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


def ascii_slug(value: str) -> str:
    """'Łukasz Ó Magáin' -> 'lukaszomagain': for synthetic email addresses."""
    folded = fold(value).translate(_ASCII_FIX)
    plain = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum())


def fictional_phone(rng: random.Random, area_codes: Sequence[str] = CHICAGO.area_codes) -> str:
    """A US number in the 555-0100..0199 block reserved for fiction, e.g. '(773) 555-0142'."""
    return f"({rng.choice(area_codes)}) 555-01{rng.randint(0, 99):02d}"


def years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class SyntheticPatient:
    values: dict[str, Any]
    contacts: list[dict[str, str]] = field(default_factory=list)

    @property
    def name_key(self) -> tuple[str, str]:
        return fold(self.values["legal_first_name"]), fold(self.values["legal_last_name"])


class _Names:
    """One Faker locale, seeded; first names by sex and last names."""

    def __init__(self, locale: str, seed: int) -> None:
        self.locale = locale
        self.faker = Faker(locale)
        self.faker.seed_instance(seed)

    def first(self, sex: str) -> str:
        if self.locale == "zh_CN":
            return str(self.faker.first_romanized_name())
        if sex == "female":
            return str(self.faker.first_name_female())
        if sex == "male":
            return str(self.faker.first_name_male())
        return str(self.faker.first_name())

    def last(self) -> str:
        if self.locale == "zh_CN":
            return str(self.faker.last_romanized_name())
        return str(self.faker.last_name())


class PatientGenerator:
    """Deterministic synthetic patients: `PatientGenerator(seed=7, today=...).patients(60)`.

    `clinician_ids`: user ids that may be a patient's primary clinician (most patients get one).
    """

    def __init__(
        self,
        seed: int = 20260101,
        *,
        today: datetime.date,
        clinician_ids: Sequence[int] = (),
        region: Region = CHICAGO,
        with_contacts: bool = True,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (synthetic data, not security)
        self.region = region
        self.today = today
        self.clinician_ids = list(clinician_ids)
        self.with_contacts = with_contacts
        self._names = [_Names(locale, seed + i) for i, (locale, _) in enumerate(LOCALES)]
        self._weights = [weight for _, weight in LOCALES]
        self._address_faker = Faker("en_US")
        self._address_faker.seed_instance(seed - 1)

    # --- pieces -----------------------------------------------------------------------------

    def _locale(self) -> _Names:
        return self.rng.choices(self._names, weights=self._weights)[0]

    def _sex(self) -> str:
        return self.rng.choices(["female", "male", "intersex", "unknown"], weights=[52, 46, 0.5, 1.5])[0]

    def _date_of_birth(self) -> tuple[datetime.date, int]:
        """(date of birth, age today). Ages 19 to 80, most between 25 and 60.

        The random stream consumed does not depend on `today`, so the same seed gives the same
        names whatever the date (the demo seed relies on it to stay idempotent).
        """
        age = self.rng.choices(
            [self.rng.randint(19, 24), self.rng.randint(25, 44), self.rng.randint(45, 60), self.rng.randint(61, 80)],
            weights=[10, 45, 32, 13],
        )[0]
        latest = years_before(self.today, age)  # turns `age` today
        earliest = years_before(self.today, age + 1) + datetime.timedelta(days=1)
        span = (latest - earliest).days + 1
        return earliest + datetime.timedelta(days=min(int(self.rng.random() * span), span - 1)), age

    def _identity(self, sex: str) -> tuple[str, str]:
        if self.rng.random() > 0.4:
            return "", ""
        options = [item for item in IDENTITIES if sex in item[2] or sex in ("intersex", "unknown")]
        identity, pronouns, _, _ = self.rng.choices(options, weights=[item[3] for item in options])[0]
        return identity, pronouns

    def _preferred(self, first: str, middle: str, identity: str, pronouns: str, names: _Names) -> str:
        if identity in ("Transgender woman", "Transgender man") and self.rng.random() < 0.7:
            # A name in use that the legal record does not carry yet.
            return names.first("female" if identity == "Transgender woman" else "male")
        if pronouns.startswith("they") and self.rng.random() < 0.5:
            return self.rng.choice(NEUTRAL_NAMES)
        nick = NICKNAMES.get(fold(first))
        if nick and self.rng.random() < 0.55:
            return self.rng.choice(nick)
        if middle and self.rng.random() < 0.08:
            return middle  # goes by the middle name
        return ""

    def _phone(self) -> str:
        return fictional_phone(self.rng, self.region.area_codes)

    def _email(self, first: str, last: str) -> str:
        f, last_slug = ascii_slug(first) or "patient", ascii_slug(last) or "synthetic"
        style = self.rng.randint(0, 3)
        local = (
            f"{f}.{last_slug}",
            f"{f[0]}{last_slug}{self.rng.randint(1, 99)}",
            f"{f}{last_slug[0]}{self.rng.randint(1, 99):02d}",
            f"{last_slug}.{f}",
        )[style]
        return f"{local}@{self.rng.choice(_EMAIL_DOMAINS)}"

    def _address(self) -> dict[str, str]:
        if self.rng.random() < 0.04:
            return {"address_line1": "", "address_line2": "", "city": "", "state": "", "postal_code": ""}
        city, state, postal_code = self.rng.choice(self.region.places)
        fake = self._address_faker
        line2 = str(fake.secondary_address()) if self.rng.random() < 0.22 else ""
        return {
            "address_line1": f"{fake.building_number()} {fake.street_name()}",
            "address_line2": line2,
            "city": city,
            "state": state,
            "postal_code": postal_code,
        }

    def _contact_person(self, patient_first: str, patient_last: str, relationship: str, names: _Names) -> str:
        sex = "female" if relationship in ("Wife", "Mother", "Sister", "Daughter") else "male"
        if relationship in ("Spouse", "Partner", "Friend", "Neighbor", "Roommate", "Coworker"):
            sex = self.rng.choice(["female", "male"])
        if relationship in ("Mother", "Father", "Sister", "Brother", "Daughter", "Son") or (
            relationship in ("Spouse", "Husband", "Wife") and self.rng.random() < 0.6
        ):
            last = patient_last
        else:
            last = (names if self.rng.random() < 0.6 else self._locale()).last()
        first = names.first(sex)
        while first == patient_first:
            first = names.first(sex)
        return f"{first} {last}"

    def _relationship(self, age: int) -> str:
        options = ["Spouse", "Partner", "Friend", "Sister", "Brother"]
        if age < 55:
            options += ["Mother", "Father", "Mother"]
        if age > 25:
            options += ["Wife", "Husband", "Spouse"]
        if age > 45:
            options += ["Daughter", "Son"]
        return self.rng.choice(options)

    def _contacts(self, values: dict[str, Any], age: int, names: _Names) -> list[dict[str, str]]:
        first, last = values["legal_first_name"], values["legal_last_name"]
        contacts: list[dict[str, str]] = []
        emergency: dict[str, str] | None = None
        if self.rng.random() < 0.9:
            relationship = self._relationship(age)
            person = self._contact_person(first, last, relationship, names)
            emergency = {
                "role": "emergency",
                "name": person,
                "relationship": relationship,
                "phone": self._phone(),
                "email": self._email(*person.split(" ", 1)) if self.rng.random() < 0.3 else "",
                "notes": self.rng.choice(EMERGENCY_NOTES),
            }
            contacts.append(emergency)
        if self.rng.random() < 0.82:
            if emergency is not None and self.rng.random() < 0.55:
                # The same person usually drives: a second row, because the role differs.
                escort = {**emergency, "role": "escort", "notes": self.rng.choice(ESCORT_NOTES)}
            else:
                relationship = self.rng.choice(
                    ["Friend", "Partner", "Roommate", "Neighbor", "Sister", "Son", "Coworker"]
                )
                person = self._contact_person(first, last, relationship, names)
                escort = {
                    "role": "escort",
                    "name": person,
                    "relationship": relationship,
                    "phone": self._phone(),
                    "email": "",
                    "notes": self.rng.choice(ESCORT_NOTES),
                }
            contacts.append(escort)
        return contacts

    # --- patients ---------------------------------------------------------------------------

    def patient(self) -> SyntheticPatient:
        names = self._locale()
        sex = self._sex()
        name_sex = sex if sex in ("female", "male") else self.rng.choice(["female", "male"])
        first = names.first(name_sex)
        last = names.last()
        if names.locale == "es_MX" and self.rng.random() < 0.25:
            last = f"{last} {names.last()}"  # both family names
        middle = names.first(name_sex) if self.rng.random() < 0.4 else ""
        if middle == first:
            middle = ""
        identity, pronouns = self._identity(sex)
        date_of_birth, age = self._date_of_birth()
        has_mobile = self.rng.random() < 0.93
        phone_home = self._phone() if (not has_mobile or self.rng.random() < 0.25) else ""
        values: dict[str, Any] = {
            "mrn": "",
            "legal_first_name": first,
            "legal_middle_name": middle,
            "legal_last_name": last,
            "preferred_name": self._preferred(first, middle, identity, pronouns, names),
            "date_of_birth": date_of_birth,
            "sex_at_birth": sex,
            "gender_identity": identity,
            "pronouns": pronouns,
            "phone_mobile": self._phone() if has_mobile else "",
            "phone_home": phone_home,
            "email": self._email(first, last) if self.rng.random() < 0.86 else "",
            **self._address(),
            "primary_clinician": (
                self.rng.choice(self.clinician_ids) if self.clinician_ids and self.rng.random() < 0.87 else None
            ),
            "status": self.rng.choices(["active", "inactive", "discharged"], weights=[82, 11, 7])[0],
        }
        contacts = self._contacts(values, age, names) if self.with_contacts else []
        return SyntheticPatient(values=values, contacts=contacts)

    def patients(self, count: int, *, unique_names: bool = False) -> Iterator[SyntheticPatient]:
        """`count` patients; with `unique_names`, no two share a legal first and last name."""
        seen: set[tuple[str, str]] = set()
        made = 0
        while made < count:
            patient = self.patient()
            if unique_names:
                if patient.name_key in seen:
                    continue
                seen.add(patient.name_key)
            made += 1
            yield patient
