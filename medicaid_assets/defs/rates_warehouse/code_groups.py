"""Procedure set and class of a CPT/HCPCS code, from the code ranges of the AMA's CPT sections and the HCPCS Level
II letter families (pure). The sets are the CPT sections (Evaluation and Management, Surgery, Radiology, …), the
classes their subsections (Office/outpatient services, Musculoskeletal system, …): the grouping the original's
tiles are partitioned by (``procedure_set=Evaluation and Management/procedure_class=Office/outpatient services``).
"""

from __future__ import annotations

# (first, last, set, class) over 5-digit Level I codes, most specific first.
RANGES: tuple[tuple[str, str, str, str], ...] = (
    ("99202", "99215", "Evaluation and Management", "Office/outpatient services"),
    ("99221", "99239", "Evaluation and Management", "Hospital inpatient and observation care"),
    ("99242", "99255", "Evaluation and Management", "Consultations"),
    ("99281", "99288", "Evaluation and Management", "Emergency department services"),
    ("99291", "99292", "Evaluation and Management", "Critical care services"),
    ("99304", "99316", "Evaluation and Management", "Nursing facility services"),
    ("99341", "99350", "Evaluation and Management", "Home or residence services"),
    ("99381", "99429", "Evaluation and Management", "Preventive medicine services"),
    ("99202", "99499", "Evaluation and Management", "Other evaluation and management services"),
    ("00100", "01999", "Anesthesia", "Anesthesia"),
    ("10004", "19499", "Surgery", "Integumentary system"),
    ("20100", "29999", "Surgery", "Musculoskeletal system"),
    ("30000", "32999", "Surgery", "Respiratory system"),
    ("33010", "37799", "Surgery", "Cardiovascular system"),
    ("38100", "38999", "Surgery", "Hemic and lymphatic systems"),
    ("39000", "39599", "Surgery", "Mediastinum and diaphragm"),
    ("40490", "49999", "Surgery", "Digestive system"),
    ("50010", "53899", "Surgery", "Urinary system"),
    ("54000", "55899", "Surgery", "Male genital system"),
    ("55920", "58999", "Surgery", "Female genital system"),
    ("59000", "59899", "Surgery", "Maternity care and delivery"),
    ("60000", "60699", "Surgery", "Endocrine system"),
    ("61000", "64999", "Surgery", "Nervous system"),
    ("65091", "68899", "Surgery", "Eye and ocular adnexa"),
    ("69000", "69979", "Surgery", "Auditory system"),
    ("10004", "69999", "Surgery", "Other surgery"),
    ("70010", "76499", "Radiology", "Diagnostic radiology"),
    ("76506", "76999", "Radiology", "Diagnostic ultrasound"),
    ("77001", "77086", "Radiology", "Radiologic guidance, mammography and bone studies"),
    ("77261", "77799", "Radiology", "Radiation oncology"),
    ("78012", "79999", "Radiology", "Nuclear medicine"),
    ("70010", "79999", "Radiology", "Other radiology"),
    ("80047", "89398", "Pathology and Laboratory", "Pathology and laboratory"),
    ("90281", "99199", "Medicine", "Medicine"),
    ("99500", "99607", "Medicine", "Home health and medication therapy management"),
)
CATEGORY_SUFFIX = {"F": "Category II (performance measurement)", "T": "Category III (emerging technology)",
                   "U": "Proprietary laboratory analyses", "M": "Multianalyte assays"}  # fmt: skip
LEVEL2 = {
    "A": "Transportation, medical and surgical supplies", "B": "Enteral and parenteral therapy",
    "C": "Outpatient PPS (temporary)", "D": "Dental", "E": "Durable medical equipment",
    "G": "Procedures and professional services (temporary)", "H": "Behavioral health and substance abuse",
    "J": "Drugs administered other than oral method", "K": "Durable medical equipment (temporary)",
    "L": "Orthotics and prosthetics", "M": "Medical services", "P": "Pathology and laboratory",
    "Q": "Temporary codes", "R": "Diagnostic radiology", "S": "Private payer temporary codes",
    "T": "State Medicaid agency codes", "U": "Laboratory (temporary)", "V": "Vision and hearing",
}  # fmt: skip
UNKNOWN = ("Unknown", "Unknown")


def code_type(code: str) -> str:
    """``CPT`` (Level I: starts with a digit) or ``HCPCS`` (Level II: a letter)."""
    return "CPT" if code[:1].isdigit() else "HCPCS"


def procedure_group(code: str) -> tuple[str, str]:
    """(procedure set, procedure class) of a 5-character code; ``("Unknown", "Unknown")`` when none fits."""
    code = code.strip().upper()
    if len(code) != 5:
        return UNKNOWN
    if code[:4].isdigit() and code[4] in CATEGORY_SUFFIX:
        return "Other CPT categories", CATEGORY_SUFFIX[code[4]]
    if code.isdigit():
        return next(((s, c) for first, last, s, c in RANGES if first <= code <= last), UNKNOWN)
    if code[0] in LEVEL2 and code[1:].isdigit():
        return "HCPCS Level II", LEVEL2[code[0]]
    return UNKNOWN
