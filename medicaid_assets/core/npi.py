"""NPI check digit (Luhn over the ``80840`` prefix), shared by the pipeline and the sample world."""

from __future__ import annotations

# Doubling table for Luhn: digit -> sum of the digits of 2*digit.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def npi_check_digit(body: str) -> int:
    """Check digit for the first nine digits of an NPI.

    The NPI standard computes Luhn over ``80840`` + the nine digits; the prefix contributes a
    constant 24, which is why the rule is usually written as "add 24".
    """
    if len(body) != 9 or not body.isdigit():
        raise ValueError(f"an NPI body is 9 digits, got {body!r}")
    total = 24
    # Rightmost body digit is doubled (the check digit will sit to its right).
    for i, ch in enumerate(reversed(body)):
        d = ord(ch) - 48
        total += _DOUBLED[d] if i % 2 == 0 else d
    return (10 - total % 10) % 10


def is_valid_npi(value: str) -> bool:
    """True when ``value`` is exactly 10 digits with a valid NPI check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    return npi_check_digit(value[:9]) == ord(value[9]) - 48


def make_npi(body: int) -> str:
    """The 10-digit NPI whose first nine digits are ``body`` (100000000..299999999)."""
    text = f"{body:09d}"
    return text + str(npi_check_digit(text))
