"""SSA state codes (the code Medicare files carry for residence) with state ids and FIPS state codes.

CMS's SSA state code table (ResDAC "SSA State Code"), 50 states, DC, Puerto Rico and the Virgin Islands; FIPS from
the Census state codes. Small and fixed, so it lives in code and becomes the table ``ssa_states``.
"""

SSA_STATES: list[tuple[str, str, str]] = [
    ("01", "AL", "01"), ("02", "AK", "02"), ("03", "AZ", "04"), ("04", "AR", "05"), ("05", "CA", "06"),
    ("06", "CO", "08"), ("07", "CT", "09"), ("08", "DE", "10"), ("09", "DC", "11"), ("10", "FL", "12"),
    ("11", "GA", "13"), ("12", "HI", "15"), ("13", "ID", "16"), ("14", "IL", "17"), ("15", "IN", "18"),
    ("16", "IA", "19"), ("17", "KS", "20"), ("18", "KY", "21"), ("19", "LA", "22"), ("20", "ME", "23"),
    ("21", "MD", "24"), ("22", "MA", "25"), ("23", "MI", "26"), ("24", "MN", "27"), ("25", "MS", "28"),
    ("26", "MO", "29"), ("27", "MT", "30"), ("28", "NE", "31"), ("29", "NV", "32"), ("30", "NH", "33"),
    ("31", "NJ", "34"), ("32", "NM", "35"), ("33", "NY", "36"), ("34", "NC", "37"), ("35", "ND", "38"),
    ("36", "OH", "39"), ("37", "OK", "40"), ("38", "OR", "41"), ("39", "PA", "42"), ("40", "PR", "72"),
    ("41", "RI", "44"), ("42", "SC", "45"), ("43", "SD", "46"), ("44", "TN", "47"), ("45", "TX", "48"),
    ("46", "UT", "49"), ("47", "VT", "50"), ("48", "VI", "78"), ("49", "VA", "51"), ("50", "WA", "53"),
    ("51", "WV", "54"), ("52", "WI", "55"), ("53", "WY", "56"),
]  # fmt: skip
