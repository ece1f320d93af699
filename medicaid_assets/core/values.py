"""Small parsers of values as public files spell them, and SQL literals built from them."""

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y"})


def parse_bool(value: str) -> bool:
    """A flag as the CMS files and the Clinical Tables API spell it ("Y", "yes", "true", "1", …)."""
    return value.strip().lower() in TRUE_WORDS


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"
