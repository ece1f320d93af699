"""The sample world's providers: one deterministic record per index, in NPPES terms.

A :class:`Provider` holds what both the bulk NPPES files and the NPI Registry API publish about one
NPI. The NPPES writer formats it as a 330-column V2 row; the API emulator formats it as an API v2.1
result. ``version`` > 0 gives the same NPI after a change (new name or address), as weekly files carry.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from medicaid_assets.core.npi import make_npi
from medicaid_assets.sample_world.spec import (
    BODIES,
    MULT,
    WEEKLY_BUNDLES,
    WORLD_TODAY,
    WorldSpec,
    npi_body_for_index,
)

FIRST_NAMES = (
    "JAMES",
    "MARY",
    "ROBERT",
    "PATRICIA",
    "JOHN",
    "JENNIFER",
    "MICHAEL",
    "LINDA",
    "DAVID",
    "ELIZABETH",
    "WILLIAM",
    "BARBARA",
    "RICHARD",
    "SUSAN",
    "JOSEPH",
    "JESSICA",
    "THOMAS",
    "SARAH",
    "CHRISTOPHER",
    "KAREN",
    "NICHOLAS",
    "ALISON",
    "TANISHA",
    "ELISE",
    "KELSEY",
    "ANTHONY",
    "TIMOTHY",
    "KELLY",
    "JOSÉ",
    "MARÍA",
    "JOSÉPHINE",
    "RENÉE",
    "ZOË",
    "FRANÇOIS",
    "NGOZI",
    "WEI",
    "PRIYA",
    "OMAR",
    "SØREN",
    "INÉS",
)
LAST_NAMES = (
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "GARCIA",
    "MILLER",
    "DAVIS",
    "RODRIGUEZ",
    "MARTINEZ",
    "HERNANDEZ",
    "LOPEZ",
    "GONZALEZ",
    "WILSON",
    "ANDERSON",
    "THOMAS",
    "TAYLOR",
    "MOORE",
    "JACKSON",
    "POTTER",
    "SNEDEGAR",
    "CARAVEO",
    "HIZA",
    "SPRANG",
    "BARNES",
    "SOLOMON",
    "WIEBE",
    "PILCHER",
    "NAGOWSKI",
    "MUÑOZ",
    "PEÑA",
    "NÚÑEZ",
    "BJÖRK",
    "O'BRIEN",
    "GÓMEZ",
    "MÜLLER",
    "CHÁVEZ",
    "NGUYEN",
    "PATEL",
    "KOWALSKI",
)
MIDDLE_NAMES = ("", "", "A", "MICHAEL", "AILEEN", "R", "EDWARD", "GORDON", "ANN", "C", "MARIE", "LEE")
PREFIXES = ("", "", "", "DR.", "MR.", "MS.", "MRS.")
SUFFIXES = ("", "", "", "", "", "JR.", "SR.", "II", "III")
CREDENTIALS = {
    "M.D.": "207Q00000X",
    "MD": "208D00000X",
    "DO": "207R00000X",
    "NP": "363L00000X",
    "PHARMD": "183500000X",
    "LCSW": "1041C0700X",
    "PSYD": "103TC0700X",
    "MA": "101YM0800X",
    "RN": "163W00000X",
    "DDS": "1223G0001X",
    "PT": "225100000X",
    "": "101YA0400X",
}
ORG_WORDS = (
    "COMMUNITY",
    "HEALTH",
    "FAMILY",
    "CARE",
    "MEDICAL",
    "BEHAVIORAL",
    "HOME",
    "DENTAL",
    "PEDIATRIC",
    "VALLEY",
    "RIVER",
    "SUMMIT",
    "PIONEER",
    "GOOD SAMARITAN",
    "SAINT MARY'S",
    "NORTHSIDE",
    "HOPE",
    "ALLIANCE",
    "SUNRISE",
    "HARBOR",
    "MERCY",
    "PEÑASCO",
    "BELLE RIVIÈRE",
    "CAÑON",
)
ORG_KINDS = (
    ("HOSPITAL", "282N00000X"),
    ("CLINIC", "261QP2300X"),
    ("HOME HEALTH AGENCY", "251E00000X"),
    ("PHARMACY", "3336C0003X"),
    ("AMBULANCE SERVICE", "3416L0300X"),
    ("MENTAL HEALTH CENTER", "261QM0801X"),
    ("DENTAL GROUP", "122300000X"),
    ("LABORATORY", "291U00000X"),
    ("SUPPLY COMPANY", "332B00000X"),
    ("PERSONAL CARE SERVICES", "3747P1801X"),
    ("ANESTHESIA LLC", "207L00000X"),
)
ORG_SUFFIXES = ("INC", "LLC", "INC.", "P.C.", "PLLC", "", "CORPORATION", "LTD")
TAXONOMY_DESCS = {
    "207Q00000X": "Family Medicine",
    "208D00000X": "General Practice",
    "207R00000X": "Internal Medicine",
    "363L00000X": "Nurse Practitioner",
    "183500000X": "Pharmacist",
    "1041C0700X": "Social Worker, Clinical",
    "103TC0700X": "Psychologist, Clinical",
    "101YM0800X": "Counselor, Mental Health",
    "163W00000X": "Registered Nurse",
    "1223G0001X": "Dentist, General Practice",
    "225100000X": "Physical Therapist",
    "101YA0400X": "Counselor, Addiction (Substance Use Disorder)",
    "282N00000X": "General Acute Care Hospital",
    "261QP2300X": "Clinic/Center, Primary Care",
    "251E00000X": "Home Health",
    "3336C0003X": "Pharmacy, Community/Retail Pharmacy",
    "3416L0300X": "Ambulance, Land Transport",
    "261QM0801X": "Clinic/Center, Mental Health (Including Community Mental Health Center)",
    "122300000X": "Dentist",
    "291U00000X": "Clinical Medical Laboratory",
    "332B00000X": "Durable Medical Equipment & Medical Supplies",
    "3747P1801X": "Personal Care Attendant",
    "207L00000X": "Anesthesiology",
    "207X00000X": "Orthopaedic Surgery",
    "390200000X": "Student in an Organized Health Care Education/Training Program",
    "208800000X": "Urology",
    "106S00000X": "Behavior Technician",
    "101YP2500X": "Counselor, Professional",
    "171M00000X": "Case Manager/Care Coordinator",
}
TAXONOMY_CODES = tuple(TAXONOMY_DESCS)
TAXONOMY_GROUPS = ("193200000X MULTI-SPECIALTY GROUP", "193400000X SINGLE SPECIALTY  GROUP")
STREETS = (
    "MAIN ST",
    "OAK AVE",
    "VICTORIA RD",
    "PERMIAN WAY STE D",
    "GALLOWS RD",
    "LAMP POST LN",
    "GEZON PKWY SW",
    "INDIAN MOUND DR",
    "47TH AVE STE 106",
    "CENTRAL AVE",
    "KING STREET",
    "VILLAGE DR",
    "CLEVELAND AVE SW",
    "EXECUTIVE PARK DR NE",
    "ROSWELL RD STE 350B",
    "MERRITT LN",
    "AVENIDA PONCE DE LEÓN",
    "RUE SAINT-ANDRÉ",
)
CITIES = (
    ("ASHEVILLE", "NC", "288"),
    ("ATLANTA", "GA", "303"),
    ("WYOMING", "MI", "495"),
    ("GRAND RAPIDS", "MI", "495"),
    ("WINCHESTER", "KY", "403"),
    ("SACRAMENTO", "CA", "958"),
    ("KEARNEY", "NE", "688"),
    ("JACKSONVILLE", "FL", "322"),
    ("FAYETTEVILLE", "NC", "283"),
    ("POTOMAC", "MD", "208"),
    ("FALLS CHURCH", "VA", "220"),
    ("BROOKLYN", "NY", "112"),
    ("HOUSTON", "TX", "770"),
    ("PHOENIX", "AZ", "850"),
    ("SAN JUAN", "PR", "009"),
    ("ESPAÑOLA", "NM", "875"),
    ("ANCHORAGE", "AK", "995"),
    ("BOISE", "ID", "837"),
    ("COLUMBUS", "OH", "432"),
    ("SEATTLE", "WA", "981"),
)
FOREIGN = (("TORONTO", "ON", "M5V3L9", "CA"), ("MONTERREY", "NL", "64000", "MX"), ("LONDON", "", "SW1A1AA", "GB"))
OTHER_ID_ISSUERS = ("BCBS", "AETNA", "WELLCARE", "UNITED HEALTHCARE", "AVMED", "FIRSTGUARD", "")
OTHER_ID_TYPES = ("01", "02", "04", "05")
ENDPOINT_TYPES = (("DIRECT", "Direct Messaging Address"), ("FHIR", "FHIR URL"), ("CONNECT", "CONNECT URL"))
DEACTIVATION_REASONS = ("DT", "DB", "FR", "OT")  # death, disbandment, fraud, other


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str  # ISO code, "US" for domestic
    phone: str
    fax: str


@dataclass(frozen=True)
class Taxonomy:
    code: str
    license: str
    license_state: str
    primary: bool
    group: str


@dataclass(frozen=True)
class OtherIdentifier:
    identifier: str
    type_code: str
    state: str
    issuer: str


@dataclass(frozen=True)
class Endpoint:
    type: str
    type_description: str
    endpoint: str
    affiliation: str
    description: str
    affiliation_name: str
    use_code: str
    use_description: str
    content_type: str
    content_description: str
    address: Address


@dataclass(frozen=True)
class Provider:
    index: int
    version: int
    npi: str
    entity_type: int  # 1 individual, 2 organization
    organization_name: str = ""
    last_name: str = ""
    first_name: str = ""
    middle_name: str = ""
    prefix: str = ""
    suffix: str = ""
    credential: str = ""
    sex: str = ""
    mailing: Address | None = None
    location: Address | None = None
    enumeration_date: date | None = None
    last_update: date | None = None
    certification_date: date | None = None
    deactivation_date: date | None = None
    deactivation_reason: str = ""
    reactivation_date: date | None = None
    sole_proprietor: str = ""  # Y/N/X for individuals
    organization_subpart: str = ""  # Y/N for organizations
    official_last: str = ""
    official_first: str = ""
    official_middle: str = ""
    official_title: str = ""
    official_phone: str = ""
    official_prefix: str = ""
    official_suffix: str = ""
    official_credential: str = ""
    taxonomies: tuple[Taxonomy, ...] = ()
    identifiers: tuple[OtherIdentifier, ...] = ()
    other_org_names: tuple[tuple[str, str], ...] = ()  # (name, type code)
    practice_locations: tuple[Address, ...] = ()
    endpoints: tuple[Endpoint, ...] = field(default=())

    @property
    def deactivated(self) -> bool:
        return self.deactivation_date is not None and self.reactivation_date is None

    @property
    def display_name(self) -> str:
        """Name as the contract's mapping uses it: organization name, else ``first last``."""
        if self.organization_name:
            return self.organization_name
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def npi_for_index(spec: WorldSpec, index: int) -> str:
    return make_npi(npi_body_for_index(spec.seed, index))


def _rng(spec: WorldSpec, index: int, salt: int) -> random.Random:
    return random.Random((spec.seed * 1_000_003 + index) * 97 + salt)


def _phone(rng: random.Random) -> str:
    return f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def _address(rng: random.Random, foreign_ok: bool) -> Address:
    number = rng.randint(1, 19999)
    street = rng.choice(STREETS)
    line2 = rng.choice(("", "", "", "SUITE 300", "STE 106", "RM 388", "APT 2B", "BLDG 4"))
    if foreign_ok and rng.random() < 0.01:
        city, state, postal, country = rng.choice(FOREIGN)
        return Address(f"{number} {street}", line2, city, state, postal, country, _phone(rng), "")
    city, state, zip3 = rng.choice(CITIES)
    postal = f"{zip3}{rng.randint(0, 99):02d}" + (f"{rng.randint(0, 9999):04d}" if rng.random() < 0.85 else "")
    fax = _phone(rng) if rng.random() < 0.35 else ""
    return Address(
        f"{number} {street}", line2, city, state, postal, "US", _phone(rng) if rng.random() < 0.9 else "", fax
    )


def _day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max(0, (end - start).days)))


def provider(spec: WorldSpec, index: int, version: int = 0, deactivate_on: date | None = None) -> Provider:
    """The provider at ``index`` as of ``version`` (0 = monthly file; k = changed in weekly k).

    ``deactivate_on`` returns the record a deactivation publishes: NPI, dates, and blank data fields.
    """
    rng = _rng(spec, index, 0)
    npi = npi_for_index(spec, index)
    is_org = rng.random() < 0.2
    enumerated = _day(rng, date(2005, 5, 23), WORLD_TODAY - timedelta(days=60))
    if index in spec.range_weekly_new():
        enumerated = WORLD_TODAY - timedelta(days=7 * spec.range_weekly_new().index(index) % 21 + 3)
    last_update = _day(rng, enumerated, WORLD_TODAY - timedelta(days=30))
    certification = _day(rng, enumerated, last_update) if rng.random() < 0.8 else None
    # Monthly deactivations: about 3.5% of the file, as in the real one.
    deactivated = index in spec.range_registered() and rng.random() < 0.035
    reactivated = deactivated and rng.random() < 0.1
    deact_date = _day(rng, enumerated, last_update) if deactivated else None
    if deactivate_on is not None:
        deact_date, reactivated = deactivate_on, False
    if deact_date is not None and not reactivated:
        return Provider(
            index=index,
            version=version,
            npi=npi,
            entity_type=0,
            deactivation_date=deact_date,
            deactivation_reason=rng.choice(DEACTIVATION_REASONS) if rng.random() < 0.3 else "",
        )

    # Addresses and name changes come from a per-version stream, so identity draws stay put.
    vrng = _rng(spec, index, version + 1)
    mailing = _address(vrng, foreign_ok=True)
    location = mailing if vrng.random() < 0.5 else _address(vrng, foreign_ok=False)
    if version:
        last_update = WORLD_TODAY - timedelta(days=7 * (3 - version % 3) + 1)

    n_tax = 1 if rng.random() < 0.7 else rng.choice((2, 2, 3, 3, 4, 5, 8, 15))
    identifiers = tuple(
        OtherIdentifier(
            identifier=str(rng.randint(1000, 99_999_999)).zfill(rng.choice((6, 7, 9, 10))),
            type_code=rng.choice(OTHER_ID_TYPES),
            state=rng.choice(CITIES)[1],
            issuer=rng.choice(OTHER_ID_ISSUERS),
        )
        for _ in range(0 if rng.random() < 0.75 else rng.choice((1, 2, 3, 6, 11)))
    )
    practice_locations = tuple(
        _address(rng, foreign_ok=False) for _ in range(0 if rng.random() < 0.9 else rng.randint(1, 3))
    )
    endpoints = tuple(_endpoint(rng, npi) for _ in range(0 if rng.random() < 0.93 else rng.randint(1, 2)))
    reactivation = _day(rng, deact_date, last_update) if reactivated and deact_date else None
    common = dict(
        index=index,
        version=version,
        npi=npi,
        mailing=mailing,
        location=location,
        enumeration_date=enumerated,
        last_update=last_update,
        certification_date=certification,
        deactivation_date=deact_date if reactivated else None,
        reactivation_date=reactivation,
        identifiers=identifiers,
        practice_locations=practice_locations,
        endpoints=endpoints,
    )
    if is_org:
        kind, kind_taxonomy = rng.choice(ORG_KINDS)
        words = " ".join(rng.sample(ORG_WORDS, rng.choice((1, 2))))
        name = " ".join(p for p in (words, kind, rng.choice(ORG_SUFFIXES)) if p)
        if version and vrng.random() < 0.5:
            name = f"{name} OF {vrng.choice(CITIES)[0]}"
        taxonomies = _taxonomies(rng, kind_taxonomy, n_tax, org=True)
        other_names = tuple(
            (f"{rng.choice(ORG_WORDS)} {kind}", rng.choice(("3", "5")))
            for _ in range(0 if rng.random() < 0.85 else rng.randint(1, 2))
        )
        return Provider(
            **common,
            entity_type=2,
            organization_name=name,
            organization_subpart=rng.choice("NNNY"),
            official_last=rng.choice(LAST_NAMES),
            official_first=rng.choice(FIRST_NAMES),
            official_middle=rng.choice(MIDDLE_NAMES),
            official_title=rng.choice(("CEO", "MANAGING MEMBER", "ADMINISTRATOR", "CFO", "OWNER")),
            official_phone=_phone(rng),
            official_prefix=rng.choice(PREFIXES),
            official_suffix=rng.choice(SUFFIXES),
            official_credential=rng.choice(("", "", "MD", "RN", "CRNA")),
            taxonomies=taxonomies,
            other_org_names=other_names,
        )
    credential = rng.choice(tuple(CREDENTIALS))
    last = rng.choice(LAST_NAMES)
    if version and vrng.random() < 0.5:
        last = f"{vrng.choice(LAST_NAMES)}-{last}"
    return Provider(
        **common,
        entity_type=1,
        last_name=last,
        first_name=rng.choice(FIRST_NAMES),
        middle_name=rng.choice(MIDDLE_NAMES),
        prefix=rng.choice(PREFIXES),
        suffix=rng.choice(SUFFIXES),
        credential=credential,
        sex=rng.choice("MMFFFU"),
        sole_proprietor=rng.choice("NNNYX"),
        taxonomies=_taxonomies(rng, CREDENTIALS[credential], n_tax, org=False),
    )


def _taxonomies(rng: random.Random, first: str, n: int, org: bool) -> tuple[Taxonomy, ...]:
    codes = [first] + [rng.choice(TAXONOMY_CODES) for _ in range(n - 1)]
    primary = 0 if n == 1 else rng.randrange(n)
    out = []
    for i, code in enumerate(codes):
        state = rng.choice(CITIES)[1]
        has_license = (not org and rng.random() < 0.8) or (org and rng.random() < 0.3)
        license_no = f"{rng.choice(('', 'RBT-', 'ME', 'HC'))}{rng.randint(100, 9_999_999)}" if has_license else ""
        out.append(
            Taxonomy(
                code=code,
                license=license_no,
                license_state=state if license_no else "",
                primary=i == primary,
                group=rng.choice(TAXONOMY_GROUPS) if org and rng.random() < 0.1 else "",
            )
        )
    return tuple(out)


def _endpoint(rng: random.Random, npi: str) -> Endpoint:
    kind, desc = rng.choice(ENDPOINT_TYPES)
    host = rng.choice(("direct.example-hisp.org", "fhir.example-ehr.com", "connect.example-hie.net"))
    value = f"{npi}@{host}" if kind == "DIRECT" else f"https://{host}/{npi}/R4"
    return Endpoint(
        type=kind,
        type_description=desc,
        endpoint=value,
        affiliation=rng.choice(("Y", "N")),
        description="",
        affiliation_name="",
        use_code=rng.choice(("HIE", "DIRECT", "OTHER")),
        use_description=rng.choice(("Health Information Exchange (HIE)", "Direct", "Other")),
        content_type=rng.choice(("CSV", "FHIR", "OTHER")),
        content_description="",
        address=_address(rng, foreign_ok=False),
    )


@dataclass(frozen=True)
class WeeklyBundle:
    """One weekly NPPES file: its dates and which providers it carries."""

    number: int  # 1-based, oldest first
    start: date
    end: date
    new: tuple[int, ...]  # indices enumerated this week
    changed: tuple[int, ...]  # registered indices with a new name or address
    deactivated: tuple[int, ...]  # registered indices deactivated this week

    @property
    def zip_name(self) -> str:
        return f"NPPES_Data_Dissemination_{self.start:%m%d%y}_{self.end:%m%d%y}_Weekly_V2.zip"

    @property
    def file_stem(self) -> str:
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"


def monthly_as_of() -> date:
    """Date the monthly file was cut: the day before the oldest weekly bundle starts."""
    return WORLD_TODAY - timedelta(days=7 * WEEKLY_BUNDLES + 1)


@functools.lru_cache(maxsize=8)
def weekly_bundles(spec: WorldSpec) -> tuple[WeeklyBundle, ...]:
    """The weekly bundles after the monthly file, oldest first, each a Monday-Sunday week.

    Cached per spec: the NPI Registry emulator asks on every request (drawing them costs milliseconds at scale
    0.1 and tens of them at scale 1, which capped the emulator at a few dozen answers a second).
    """
    rng = random.Random(spec.seed * 31 + 5)
    registered = spec.range_registered()
    new = list(spec.range_weekly_new())
    per_week = -(-len(new) // WEEKLY_BUNDLES)
    n_changed = max(3, spec.registered // 500)
    n_deact = max(2, spec.registered // 2000)
    touched = rng.sample(registered, min(len(registered), WEEKLY_BUNDLES * (n_changed + n_deact)))
    out = []
    for k in range(WEEKLY_BUNDLES):
        start = monthly_as_of() + timedelta(days=1 + 7 * k)
        chunk = touched[k * (n_changed + n_deact) : (k + 1) * (n_changed + n_deact)]
        out.append(
            WeeklyBundle(
                number=k + 1,
                start=start,
                end=start + timedelta(days=6),
                new=tuple(new[k * per_week : (k + 1) * per_week]),
                changed=tuple(sorted(chunk[:n_changed])),
                deactivated=tuple(sorted(chunk[n_changed:])),
            )
        )
    return tuple(out)


def current_provider(spec: WorldSpec, index: int) -> Provider | None:
    """The provider at ``index`` after every weekly bundle, or None when nobody has it on record."""
    if index in spec.range_unknown() or not (0 <= index < spec.range_unknown().start):
        return None
    state = provider(spec, index)
    for bundle, changed, deactivated in _weekly_sets(spec):
        if index in changed:
            state = provider(spec, index, version=bundle.number)
        elif index in deactivated:
            state = provider(spec, index, deactivate_on=bundle.end - timedelta(days=2))
    return state


@functools.lru_cache(maxsize=8)
def _weekly_sets(spec: WorldSpec) -> tuple[tuple[WeeklyBundle, frozenset[int], frozenset[int]], ...]:
    """Each weekly bundle with its changed and deactivated indices as sets (membership per request is O(1))."""
    return tuple((b, frozenset(b.changed), frozenset(b.deactivated)) for b in weekly_bundles(spec))


def index_for_npi(spec: WorldSpec, npi: str) -> int | None:
    """Inverse of :func:`npi_for_index` (None for NPIs outside the world's numbering)."""
    if len(npi) != 10 or not npi.isdigit():
        return None
    body = int(npi[:9]) - 100_000_000
    if not 0 <= body < BODIES:
        return None
    offset = (spec.seed * 2_654_435_761) % BODIES
    index = ((body - offset) * pow(MULT, -1, BODIES)) % BODIES
    return index if npi_for_index(spec, index) == npi else None
