"""NPPES bulk records as NPI Registry API v2.1 payloads, so bulk hits and API answers read the same downstream.

:func:`bulk_dataset` runs one DuckDB query over the bulk rows (``resolution/npi_bulk_rows`` as stored by the IO manager: the
:func:`medicaid_assets.defs.reference.nppes.bundles.provider_select_sql` columns plus ``bundle_key`` and the side-table rows as
``other_names_rows``/``practice_location_rows``/``endpoint_rows``) that writes the ``npi.parquet`` columns of each
row as JSON text: a Python builder took ~160 µs a row, too slow for 1.8M rows. The payload is
``{"result_count": 1, "results": [result]}`` in the current (2026 capture) shape: string ``number``, epoch
milliseconds as strings, ``taxonomy_group: ""``, ``"--"`` for empty name prefixes and suffixes, empty
``address_2``/phones/credentials left out; keys in the API's order.

Fixed against the original's synthetic payload (original-pipeline notes §1.5): ISO dates instead of
``MM/DD/YYYY``; ``FGN`` instead of ``FOR`` for foreign addresses (the real captures say ``FGN``); address
phones as ``301-309-3781``; postal codes as the file spells them (the API's spelling: 9 digits without a dash,
foreign codes as entered), not reduced to digits; taxonomy and identifier ``desc`` filled where known.

What the bulk file cannot say, and so differs from a real answer: epochs are midnight UTC of the dates (the
2019 captures show such epochs; the real ones carry a time of day); practice locations have no
``update_date``; taxonomy descriptions come from ``TAXONOMY_DESCS`` (only the codes of the real captures; ""
otherwise) and country names from ``COUNTRY_NAMES`` (US and the captures' codes; "" otherwise). A deactivated
record (status ``D``; the real API answers nothing for it) keeps what the file has: the NPI, ``basic.status``
and ``basic.deactivation_date`` (our key), no ``enumeration_type``.

The text is the one ``npi_cache.to_json`` (``json.dumps``, non-ASCII kept) writes for the same payload, byte for
byte, as the tests check against the Python builder that preceded this query: values are stripped of what
``str.strip`` strips (Unicode whitespace, not only spaces) and a phone is formatted when it is ten of what
``str.isdigit`` accepts. Nearly every row has no text to strip or escape (none empty, none starting or ending
with whitespace, none with a quote, backslash or control character): its text goes between quotes as it is. The
others are built strictly, each text stripped and escaped by DuckDB's ``to_json`` (whose upper-case hex in nine
``\\u00XX`` escapes is lowered afterwards): slower, but for a few rows.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from medicaid_assets.core.values import sql_string
from medicaid_assets.defs.reference.resolution.npi_cache import to_json
from medicaid_assets.defs.reference.resolution.writers import NPI_DATASET_COLUMNS

ENUMERATION_TYPES = {"1": "NPI-1", "2": "NPI-2"}
# Codes of the real captures only (nppes_api_v21_*.json): a full table is NUCC's, not ours to retype.
TAXONOMY_DESCS = {
    "207X00000X": "Orthopaedic Surgery",
    "390200000X": "Student in an Organized Health Care Education/Training Program",
    "207L00000X": "Anesthesiology",
    "282N00000X": "General Acute Care Hospital",
    "208800000X": "Urology",
}
COUNTRY_NAMES = {"US": "United States", "UM": "United States Minor Outlying Islands"}
# NPPES code lists (Data Dissemination readme); 01 and 05 spelt as the captures show them, the rest in their style.
IDENTIFIER_TYPES = {
    "01": "Other (non-Medicare)",
    "02": "MEDICARE UPIN",
    "04": "MEDICARE ID-Type Unspecified",
    "05": "MEDICAID",
    "06": "MEDICARE OSCAR/CERTIFICATION",
    "07": "MEDICARE NSC",
    "08": "MEDICARE PIN",
}
OTHER_NAME_TYPES = {
    "1": "Former Name",
    "2": "Professional Name",
    "3": "Doing Business As",
    "4": "Former Legal Business Name",
    "5": "Other Name",
}
BULK_SOURCE = "nppes_bulk"
# Side file names of an npidata file: npidata_pfile_<dates>.csv -> <prefix>_<dates>.csv.
SIDE_PREFIXES = {"othername": "othername_pfile", "pl": "pl_pfile", "endpoint": "endpoint_pfile"}


def bulk_url(kind: str, npidata_file: str) -> str:
    """The url sentinel of a bulk hit: ``nppes_bulk:<monthly|weekly>:<npidata file name>``."""
    return f"{BULK_SOURCE}:{kind}:{npidata_file}"


def bulk_request_params(bundle: str, npidata_file: str, side_files: Mapping[str, str]) -> dict[str, str | None]:
    """The request_params of a bulk hit: the bundle (zip stem) and its files; ``side_files`` by side kind."""
    return {
        "source": BULK_SOURCE,
        "bundle": bundle,
        "npidata_file": npidata_file,
        **{f"{kind}_file": side_files.get(kind) for kind in ("othername", "pl", "endpoint")},
    }


# -- the query ----------------------------------------------------------------------------------------

# Parts of the result, in the API's key order, as the npi.parquet columns that hold them (lists "[]" when empty).
RESULT_PARTS = (
    ("basic", "basic"),
    ("other_names", "other_names"),
    ("addresses", "addresses"),
    ("taxonomies", "taxonomies"),
    ("identifiers", "identifiers"),
    ("practiceLocations", "practice_locations"),
    ("endpoints", "endpoints"),
)
# The list columns of a bulk row, by the name their items take in lambdas.
_LISTS = {
    "o_": "other_names_rows",
    "t_": "taxonomies",
    "i_": "identifiers",
    "p_": "practice_location_rows",
    "e_": "endpoint_rows",
}
# DuckDB's to_json writes these control characters' escapes in upper-case hex; json.dumps in lower case.
_UPPER_HEX_ESCAPES = tuple(f"\\u{n:04X}" for n in (0x0B, 0x0E, 0x0F, *range(0x1A, 0x20)))
_BACKSLASH_STANDIN = "chr(1)"  # never raw in to_json's output: control characters are escaped
_SEPARATOR = "chr(127)"  # between a row's texts when looking for unusual ones: not whitespace, never escaped


class _Lit(str):
    """Constant text among SQL expressions: merged with the constants beside it, quoted once."""


@dataclasses.dataclass(frozen=True)
class _Member:
    """``"key":value`` in an object, ``value`` the pieces of the value's JSON text. Required: a NULL piece is
    skipped (a NULL text gives ``""``). Optional: the member is left out when a piece is NULL."""

    key: str
    value: tuple[str, ...]
    optional: bool = False


def _pieces(pieces: Iterable[str]) -> list[str]:
    """SQL of the pieces, adjacent constants merged."""
    merged: list[str] = []
    for piece in pieces:
        if isinstance(piece, _Lit) and merged and isinstance(merged[-1], _Lit):
            merged[-1] = _Lit(merged[-1] + piece)
        else:
            merged.append(piece)
    return [sql_string(p) if isinstance(p, _Lit) else p for p in merged]


def _concat(pieces: Iterable[str]) -> str:
    """Text of the pieces, NULL ones skipped."""
    return f"concat({', '.join(_pieces(pieces))})"


def _re2_class(chars: Iterable[str]) -> str:
    """An RE2 character class of ``chars``, as ranges of ``\\x{...}`` code points."""
    ranges: list[list[int]] = []
    for code in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\x{{{a:x}}}" + (f"-\\x{{{b:x}}}" if b > a else "") for a, b in ranges) + "]"


@functools.cache
def _python_chars() -> tuple[str, str, str]:
    """SQL literals of: the characters ``str.strip`` strips (for trim); the characters ``str.isdigit`` accepts;
    an RE2 pattern of texts (joined by ``_SEPARATOR``) one of which is empty, starts or ends with whitespace,
    or holds a character JSON escapes."""
    chars = list(map(chr, range(sys.maxunicode + 1)))
    spaces = "".join(filter(str.isspace, chars))
    space = _re2_class(spaces)
    unusual = f'(?:^|\\x{{7f}})(?:\\x{{7f}}|$)|(?:^|\\x{{7f}}){space}|{space}(?:\\x{{7f}}|$)|["\\\\\\x{{0}}-\\x{{1f}}]'
    return sql_string(spaces), sql_string("".join(filter(str.isdigit, chars))), sql_string(unusual)


@dataclasses.dataclass(frozen=True)
class _Json:
    """The JSON text of a row's parts. ``strict``: text stripped as ``str.strip`` does and escaped by ``to_json``
    (slow). Else text as it is, between quotes: right for usual rows, whose texts need neither (nearly all).
    Either way a text reads as NULL when empty."""

    strict: bool
    read: set[str] = dataclasses.field(default_factory=set)  # the texts read (``t_.code`` in a list's items)

    def value(self, column: str) -> str:
        self.read.add(column)
        return f"nullif(trim({column}, {_python_chars()[0]}), '')" if self.strict else column

    def _string(self, text: str) -> tuple[str, ...]:
        """Pieces of the JSON string of ``text``, "" when it is NULL."""
        return (f"coalesce(to_json({text})::VARCHAR, '\"\"')",) if self.strict else (_Lit('"'), text, _Lit('"'))

    def _string_or_null(self, text: str) -> tuple[str, ...]:
        """Pieces of the JSON string of ``text``, a NULL piece when it is NULL."""
        return (f"to_json({text})::VARCHAR",) if self.strict else (_Lit('"'), text, _Lit('"'))

    def text(self, key: str, column: str) -> _Member:
        return _Member(key, self._string(self.value(column)))

    def optional(self, key: str, column: str) -> _Member:
        return _Member(key, self._string_or_null(self.value(column)), optional=True)

    def dashed(self, key: str, column: str) -> _Member:
        """``--`` for an empty name prefix or suffix, as the API writes it."""
        return _Member(key, self._string(f"coalesce({self.value(column)}, '--')"))

    def lookup(self, key: str, table: Mapping[str, str], code: str) -> _Member:
        """``table.get(code, "")``; the values are encoded here, in Python (a CASE: a MAP is slow in a lambda)."""
        whens = " ".join(f"WHEN {sql_string(k)} THEN {sql_string(to_json(v))}" for k, v in table.items())
        return _Member(key, (f"CASE {code} {whens} ELSE '\"\"' END",) if whens else (_Lit('""'),))

    def phone(self, key: str, column: str) -> _Member:
        """``3013093781`` → ``301-309-3781`` as the API shows address phones; anything else unchanged."""
        p = self.value(column)
        formatted = f"concat(substr({p}, 1, 3), '-', substr({p}, 4, 3), '-', substr({p}, 7))"
        # GLOB for the usual ASCII digits; then any digits, slowly (a regular expression would be compiled anew
        # for every chunk in a lambda).
        ascii_digits = f"{p} GLOB '{'[0-9]' * 10}'"
        digits = f"length({p}) = 10 AND ltrim({p}, {_python_chars()[1]}) = ''"
        phone = f"CASE WHEN {ascii_digits} THEN {formatted} WHEN {digits} THEN {formatted} ELSE {p} END"
        return _Member(key, self._string_or_null(phone), optional=True)

    def place(self, country: str) -> tuple[_Member, _Member, _Member]:
        """country_code, country_name, address_type (a missing country is the US)."""
        code = f"coalesce({self.value(country)}, 'US')"
        return (
            _Member("country_code", self._string(code)),
            self.lookup("country_name", COUNTRY_NAMES, code),
            _Member("address_type", (f"CASE WHEN {code} = 'US' THEN '\"DOM\"' ELSE '\"FGN\"' END",)),
        )

    def address(self, prefix: str, purpose: str) -> str:
        """The mailing or location address; NULL when it has no line, city, state or postal code."""
        code, name, kind = self.place(f"{prefix}_country")
        fields = (self.value(f"{prefix}_{n}") for n in ("address_line1", "city", "state", "postal_code"))
        address = _object(
            code,
            name,
            _Member("address_purpose", (_Lit(to_json(purpose)),)),
            kind,
            self.text("address_1", f"{prefix}_address_line1"),
            self.optional("address_2", f"{prefix}_address_line2"),
            self.text("city", f"{prefix}_city"),
            self.text("state", f"{prefix}_state"),
            self.text("postal_code", f"{prefix}_postal_code"),
            self.phone("telephone_number", f"{prefix}_phone"),
            self.phone("fax_number", f"{prefix}_fax"),
        )
        return f"CASE WHEN coalesce({', '.join(fields)}) IS NOT NULL THEN {address} END"

    def practice_location(self, pl: str) -> str:
        code, name, kind = self.place(f"{pl}.country")
        return _object(
            kind,
            self.text("address_1", f"{pl}.address_line1"),
            self.optional("address_2", f"{pl}.address_line2"),
            self.text("city", f"{pl}.city"),
            self.text("state", f"{pl}.state"),
            self.text("postal_code", f"{pl}.postal_code"),
            code,
            name,
            self.phone("telephone_number", f"{pl}.phone"),
            self.phone("fax_number", f"{pl}.fax"),
            self.optional("telephone_extension", f"{pl}.phone_extension"),
        )

    def endpoint(self, e: str) -> str:
        return _object(
            self.text("endpointType", f"{e}.endpoint_type"),
            self.text("endpointTypeDescription", f"{e}.endpoint_type_description"),
            self.text("endpoint", f"{e}.endpoint"),
            self.optional("endpointDescription", f"{e}.endpoint_description"),
            self.text("affiliation", f"{e}.affiliation"),
            self.optional("affiliationName", f"{e}.affiliation_legal_business_name"),
            self.text("use", f"{e}.use_code"),
            self.text("useDescription", f"{e}.use_description"),
            self.optional("useOtherDescription", f"{e}.other_use_description"),
            self.text("contentType", f"{e}.content_type"),
            self.text("contentTypeDescription", f"{e}.content_description"),
            self.optional("contentOtherDescription", f"{e}.other_content_description"),
            *self.place(f"{e}.affiliation_address_country"),
            self.text("address_1", f"{e}.affiliation_address_line1"),
            self.optional("address_2", f"{e}.affiliation_address_line2"),
            self.text("city", f"{e}.affiliation_address_city"),
            self.text("state", f"{e}.affiliation_address_state"),
            self.text("postal_code", f"{e}.affiliation_address_postal_code"),
        )

    def dates(self) -> tuple[_Member, ...]:
        """Dates and status; a deactivated record's deactivation date is there even when unknown ("")."""
        deactivated = f"CASE WHEN {self.value('status')} = 'D' THEN coalesce(deactivation_date::VARCHAR, '') END"
        return (
            _Member("enumeration_date", (_Lit('"'), "enumeration_date::VARCHAR", _Lit('"')), optional=True),
            _Member("last_updated", (_Lit('"'), "last_update_date::VARCHAR", _Lit('"')), optional=True),
            _Member("certification_date", (_Lit('"'), "certification_date::VARCHAR", _Lit('"')), optional=True),
            _Member("deactivation_date", (_Lit('"'), deactivated, _Lit('"')), optional=True),
            _Member("status", self._string(f"coalesce({self.value('status')}, 'A')")),
        )

    def yes_no(self, key: str, flag: str) -> _Member:
        """NPPES ``Y``/``N``/``X`` (X = not answered) → ``YES``/``NO``."""
        return _Member(key, (f"CASE WHEN {self.value(flag)} = 'Y' THEN '\"YES\"' ELSE '\"NO\"' END",))

    def basic(self) -> str:
        organization = _object(
            self.text("organization_name", "organization_name"),
            self.yes_no("organizational_subpart", "organization_subpart"),
            *self.dates(),
            self.optional("authorized_official_credential", "official_credential"),
            self.text("authorized_official_first_name", "official_first_name"),
            self.text("authorized_official_last_name", "official_last_name"),
            self.optional("authorized_official_middle_name", "official_middle_name"),
            self.dashed("authorized_official_name_prefix", "official_name_prefix"),
            self.dashed("authorized_official_name_suffix", "official_name_suffix"),
            # Unformatted digits, unlike address phones (2026 capture).
            self.text("authorized_official_telephone_number", "official_phone"),
            self.text("authorized_official_title_or_position", "official_title"),
        )
        individual = _object(
            self.dashed("name_prefix", "name_prefix"),
            self.text("first_name", "first_name"),
            self.text("last_name", "last_name"),
            self.optional("middle_name", "middle_name"),
            self.dashed("name_suffix", "name_suffix"),
            self.optional("credential", "credential"),
            self.yes_no("sole_proprietor", "sole_proprietor"),
            self.optional("gender", "sex"),
            *self.dates(),
        )
        entity = self.value("entity_type")
        return (
            f"CASE {entity} WHEN '2' THEN {organization} WHEN '1' THEN {individual} ELSE {_object(*self.dates())} END"
        )

    def other_names(self) -> str:
        """Organizations: the othername file's rows (the main row holds only the first of them, as a fallback).
        Individuals: the main row's other name (the API's keys for it per public clients; no capture shows one)."""

        def org(name: str, code: str) -> str:
            return _object(
                self.text("organization_name", name),
                self.lookup("type", OTHER_NAME_TYPES, self.value(code)),
                self.text("code", code),
            )

        person = _object(
            self.optional("first_name", "other_first_name"),
            self.optional("last_name", "other_last_name"),
            self.optional("middle_name", "other_middle_name"),
            self.optional("prefix", "other_name_prefix"),
            self.optional("suffix", "other_name_suffix"),
            self.optional("credential", "other_credential"),
            self.lookup("type", OTHER_NAME_TYPES, self.value("other_last_name_type")),
            self.text("code", "other_last_name_type"),
        )
        side = _array("o_", org("o_.other_organization_name", "o_.other_organization_name_type"))
        main = org("other_organization_name", "other_organization_name_type")
        person_named = f"coalesce({self.value('other_last_name')}, {self.value('other_first_name')}) IS NOT NULL"
        return (
            f"CASE WHEN len(coalesce(other_names_rows, [])) > 0 THEN {side} "
            f"WHEN {self.value('other_organization_name')} IS NOT NULL THEN concat('[', {main}, ']') "
            f"WHEN {person_named} THEN concat('[', {person}, ']') ELSE '[]' END"
        )

    def taxonomy(self, t: str) -> str:
        return _object(
            self.text("code", f"{t}.code"),
            self.lookup("desc", TAXONOMY_DESCS, self.value(f"{t}.code")),
            _Member("primary", (f"CASE WHEN {t}.is_primary THEN 'true' ELSE 'false' END",)),
            self.text("state", f"{t}.license_state"),
            self.text("license", f"{t}.license"),
            self.text("taxonomy_group", f"{t}.taxonomy_group"),
        )

    def identifier(self, i: str) -> str:
        return _object(
            self.text("identifier", f"{i}.identifier"),
            self.text("code", f"{i}.type_code"),
            self.lookup("desc", IDENTIFIER_TYPES, self.value(f"{i}.type_code")),
            self.text("state", f"{i}.state"),
            self.text("issuer", f"{i}.issuer"),
        )

    def head(self) -> str:
        """The result's members before ``basic``: enumeration_type, number, epochs (without braces)."""
        names = " ".join(f"WHEN {sql_string(c)} THEN {sql_string(to_json(n))}" for c, n in ENUMERATION_TYPES.items())
        return _members(
            (
                _Member("enumeration_type", (f"CASE {self.value('entity_type')} {names} END",), optional=True),
                self.text("number", "npi"),
                _Member("last_updated_epoch", (_Lit('"'), _epoch_ms("last_update_date"), _Lit('"')), optional=True),
                _Member("created_epoch", (_Lit('"'), _epoch_ms("enumeration_date"), _Lit('"')), optional=True),
            )
        )

    def parts(self) -> dict[str, str]:
        """SQL of each part's JSON text, by npi.parquet column, and ``head``: the result's first members."""
        addresses = f"concat_ws(',', {self.address('mailing', 'MAILING')}, {self.address('location', 'LOCATION')})"
        return {
            "head": self.head(),
            "basic": self.basic(),
            "other_names": self.other_names(),
            "addresses": f"concat('[', {addresses}, ']')",
            "taxonomies": _array("t_", self.taxonomy("t_")),
            "identifiers": _array("i_", self.identifier("i_")),
            "practice_locations": _array("p_", self.practice_location("p_")),
            "endpoints": _array("e_", self.endpoint("e_")),
        }


def _epoch_ms(day: str) -> str:
    """Midnight UTC of ``day`` in epoch milliseconds, as text."""
    return f"epoch_ms({day})::VARCHAR"


def _members(members: Sequence[_Member]) -> str:
    """The members' text without braces: one ``concat``, which skips the absent optional members (each holds
    its comma); when the first may be absent, the comma of the next goes."""
    args: list[str] = []
    for i, member in enumerate(members):
        label = _Lit(("," if i else "") + to_json(member.key) + ":")
        if member.optional:
            args.append("(" + " || ".join(_pieces((label, *member.value))) + ")")
        else:
            args += [label, *member.value]
    return f"ltrim({_concat(args)}, ',')" if members[0].optional else _concat(args)


def _object(*members: _Member) -> str:
    return f"concat('{{', {_members(members)}, '}}')"


def _array(var: str, item_json: str) -> str:
    """The JSON array of the items of list column ``_LISTS[var]``, ``item_json`` reading an item as ``var``."""
    items = f"list_transform(coalesce({_LISTS[var]}, []), lambda {var}: {item_json})"
    return f"concat('[', array_to_string({items}, ','), ']')"


def _fixed_hex(text: str) -> str:
    """``text`` with to_json's upper-case ``\\u00XX`` escapes lowered; escaped backslashes stand aside first,
    so a backslash followed by the text ``u000B`` (``\\\\u000B``) is left as is."""
    fixed = f"replace({text}, '\\\\', {_BACKSLASH_STANDIN})"
    for escape in _UPPER_HEX_ESCAPES:
        fixed = f"replace({fixed}, {sql_string(escape)}, {sql_string(escape.lower())})"
    return f"replace({fixed}, {_BACKSLASH_STANDIN}, '\\\\')"


def _usual(texts: Iterable[str]) -> str:
    """SQL of a row's flag: none of ``texts`` (``var.field``: in a list's items) is empty, starts or ends with
    whitespace, or holds a character JSON escapes. The texts are joined, for one regular expression."""
    fields: dict[str, list[str]] = {}
    for text in sorted(texts):
        var, _, field = text.rpartition(".")
        fields.setdefault(var, []).append(text if not var else f"v_.{field}")

    def joined(names: list[str]) -> str:
        return f"concat_ws({_SEPARATOR}, {', '.join(names)})"

    scalars = fields.pop("", [])
    lists = [
        f"nullif(array_to_string(list_transform({_LISTS[var]}, lambda v_: {joined(names)}), {_SEPARATOR}), '')"
        for var, names in fields.items()
    ]
    return f"NOT regexp_matches({joined([*scalars, *lists])}, {_python_chars()[2]})"


def _nullable(value: str | None) -> str:
    return "NULL" if value is None else sql_string(value)


def _by_source(sources: Sequence[tuple[str, str, str | None]], pick: int) -> str:
    """The url (``pick`` 0) or request_params JSON (1) of a row's (source_kind, source_file, bundle_key)."""
    whens = " ".join(
        f"WHEN source_kind IS NOT DISTINCT FROM {_nullable(kind)} "
        f"AND source_file IS NOT DISTINCT FROM {_nullable(npidata)} "
        f"AND bundle_key IS NOT DISTINCT FROM {_nullable(bundle)} "
        f"THEN {sql_string(bulk_source_values(kind, npidata, bundle)[pick])}"
        for kind, npidata, bundle in sources
    )
    return f"CASE {whens} END" if whens else "NULL"


def bulk_source_values(kind: str, npidata_file: str, bundle: str | None) -> tuple[str, str]:
    """The url and request_params JSON of the rows of one npidata file (the side files named after it)."""
    sides = {side: npidata_file.replace("npidata_pfile", prefix, 1) for side, prefix in SIDE_PREFIXES.items()}
    return bulk_url(kind, npidata_file), to_json(bulk_request_params(bundle or "", npidata_file, sides))


def _relation(rows: Path | str) -> str:
    """Bulk rows as a FROM item: a parquet file, or a query (the IO manager's SqlFrame)."""
    return f"read_parquet({sql_string(str(rows))})" if isinstance(rows, Path) else f"({rows})"


def _dataset_sql(rows: Path | str, sources: Sequence[tuple[str, str, str | None]]) -> str:
    """SELECT the ``npi.parquet`` columns (``NPI_DATASET_COLUMNS``) of every bulk row (``rows``: a parquet file or a
    query), in NPI order; ``sources``: the rows' distinct (source_kind, source_file, bundle_key).

    Each part is built twice: from the text as it is, for every row (cheap), and strictly (stripped, escaped)
    for the unusual rows only; the usual rows (nearly all) take the first."""
    fast_json = _Json(strict=False)
    fast, strict = fast_json.parts(), _Json(strict=True).parts()

    def result(prefix: str) -> str:
        pieces = (
            _Lit("[{"),
            f"{prefix}_head",
            *(p for k, c in RESULT_PARTS for p in (_Lit(f",{to_json(k)}:"), f"{prefix}_{c}")),
        )
        return _concat((*pieces, _Lit("}]")))

    def either(name: str) -> str:
        return f"CASE WHEN usual THEN fast_{name} ELSE strict_{name} END AS {name}"

    parts = ", ".join(
        f"{fast[name]} AS fast_{name}, CASE WHEN NOT usual THEN {_fixed_hex(strict[name])} END AS strict_{name}"
        for name in fast
    )
    return f"""
        WITH flagged AS (SELECT *, {_usual(fast_json.read)} AS usual FROM {_relation(rows)}),
        parts AS (SELECT npi, usual, source_kind, source_file, bundle_key, {parts} FROM flagged),
        results AS (
            SELECT *, {result("fast")} AS fast_results, CASE WHEN NOT usual THEN {result("strict")} END AS strict_results
            FROM parts
        ),
        chosen AS (SELECT npi, source_kind, source_file, bundle_key, {", ".join(map(either, [*fast, "results"]))}
                   FROM results)
        SELECT npi, {", ".join(NPI_DATASET_COLUMNS[1:8])},
               {_by_source(sources, 0)} AS url, NULL::VARCHAR AS error_message, NULL::VARCHAR AS api_run_id,
               NULL::VARCHAR AS requested_at_utc, {_by_source(sources, 1)} AS request_params, results,
               concat('{{"result_count":1,"results":', results, '}}') AS response_json
        FROM chosen
    """


def bulk_dataset(conn: duckdb.DuckDBPyConnection, rows: Path | str, batch_rows: int) -> pa.RecordBatchReader:
    """The ``npi.parquet`` rows of the bulk rows ``rows`` (a parquet file, or a SELECT such as the stored
    ``resolution/npi_bulk_rows``), in NPI order, ``batch_rows`` at a time."""
    sources = conn.execute(f"SELECT DISTINCT source_kind, source_file, bundle_key FROM {_relation(rows)}")
    return conn.execute(_dataset_sql(rows, sources.fetchall())).to_arrow_reader(batch_rows)
