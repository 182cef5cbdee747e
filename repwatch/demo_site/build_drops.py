"""Write the demo's `files` drops: a call-centre complaint export and a survey workbook.

    python -m repwatch.demo_site.build_drops [--last-day 2026-11-20] [--out demo/drops]

Complaints (`complaints/complaints_export_<day>.csv`): what a Chinese call-centre tool's
"export to Excel CSV" gives — GBK, CRLF, Beijing local time as `2026/11/19 14:32`, masked
customer names, real negative review texts (`data/zh_neg.txt`), plus three rows an agent got
wrong (an impossible date, a score typed as words, no complaint text) that the reader
quarantines. Surveys (`surveys/survey_responses_<day>.xlsx`): an English survey tool's
workbook with typed date cells, a 1–10 satisfaction score and real Amazon review snippets
(`data/en_amazon_snippets.tsv`), the score following the snippet's human sentiment rating.

Both cover the DAYS days up to --last-day with a fixed seed, so a rebuild gives the same
rows. `repwatch demo` reads the committed files and never runs this.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

from repwatch.demo_site.catalog import DATA_DIR

DEFAULT_LAST_DAY = date(2026, 11, 20)
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "demo" / "drops"
DAYS = 60
SEED = 20261120
# A fixed timestamp inside the workbook and its zip entries keeps rebuilds byte-identical.
FIXED_MOMENT = datetime(2026, 1, 1)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")

COMPLAINT_HEADER = (
    "工单编号",
    "受理渠道",
    "创建时间",
    "问题分类",
    "客户",
    "投诉内容",
    "客户评分",
    "解决时间",
    "回访满意度",
)
COMPLAINT_CHANNELS = {"电话": 0.55, "在线客服": 0.3, "邮件": 0.15}
# The tool files a ticket by the first matching keyword; everything else is product quality.
COMPLAINT_CATEGORIES = (
    ("物流配送", ("快递", "物流", "送货", "发货", "配送", "送到")),
    ("服务态度", ("服务", "态度", "客服", "前台", "服务员")),
    ("价格", ("价格", "贵", "价钱", "性价比", "退款")),
    ("虚假宣传", ("宣传", "描述不符", "不符", "骗")),
)
DEFAULT_CATEGORY = "产品质量"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"

SURVEY_HEADER = (
    "Response ID",
    "Submitted At",
    "Respondent",
    "Channel",
    "Topic",
    "Overall satisfaction (1-10)",
    "Comments",
)
SURVEY_CHANNELS = {"Email invite": 0.5, "Website": 0.3, "In-app": 0.2}
SURVEY_TOPICS = ("Product quality", "Delivery", "Customer service", "Price", "Website")
SURNAME_INITIALS = "ABCDEFGHJKLMNPRSTW"
FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Frank", "Grace", "Hugo", "Iris", "Jack")


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _days(last_day: date) -> list[date]:
    return [last_day - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]


def _moment(rng: random.Random, day: date, first_hour: int, last_hour: int) -> datetime:
    minutes = rng.randrange(first_hour * 60, last_hour * 60)
    return datetime.combine(day, time()) + timedelta(minutes=minutes)


def chinese_complaint_texts() -> list[str]:
    """Negative texts a GBK export can hold (anything else would be lost as `?`)."""
    texts = []
    for line in (DATA_DIR / "zh_neg.txt").read_text(encoding="utf-8").splitlines():
        try:
            line.encode("gbk")
        except UnicodeEncodeError:
            continue
        texts.append(line)
    return texts


def complaint_category(text: str) -> str:
    for category, words in COMPLAINT_CATEGORIES:
        if any(word in text for word in words):
            return category
    return DEFAULT_CATEGORY


def complaint_rows(last_day: date, rng: random.Random) -> list[list[str]]:
    texts = chinese_complaint_texts()
    rng.shuffle(texts)
    rows = []
    for day in _days(last_day):
        for _ in range(rng.choice((3, 4, 5, 5, 6, 7))):
            created = _moment(rng, day, 8, 22)
            text = texts[len(rows) % len(texts)]
            score = rng.choices(["1", "2", "3", ""], weights=[0.45, 0.3, 0.1, 0.15])[0]
            resolved = created + timedelta(minutes=rng.randrange(30, 5 * 24 * 60))
            unresolved = resolved.date() > last_day or rng.random() < 0.08
            followup = "" if unresolved or rng.random() < 0.3 else str(rng.randint(1, 5))
            rows.append(
                [
                    "",  # the ticket number follows the creation order, filled in below
                    _pick(rng, COMPLAINT_CHANNELS),
                    f"{created:%Y/%m/%d %H:%M}",
                    complaint_category(text),
                    f"{rng.choice(SURNAMES)}**",
                    text,
                    score,
                    "" if unresolved else f"{resolved:%Y/%m/%d %H:%M}",
                    followup,
                ]
            )
    rows.sort(key=lambda row: row[2])
    for number, row in enumerate(rows, start=1):
        row[0] = f"TS{row[2][:10].replace('/', '')}{number:04d}"
    # What agents get wrong, kept in the export for the quarantine to show.
    rows[len(rows) // 4][2] = "2026/11/31 09:15"
    rows[len(rows) // 2][6] = "很差"
    rows[3 * len(rows) // 4][5] = ""
    return rows


def write_complaints(path: Path, last_day: date, rng: random.Random) -> int:
    rows = complaint_rows(last_day, rng)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COMPLAINT_HEADER)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode("gbk"))
    return len(rows)


def survey_score(mean_rating: float, rng: random.Random) -> int:
    """A 1–10 score from a -4..+4 human sentiment rating, give or take one."""
    score = round(1 + (mean_rating + 4) * 9 / 8) + rng.choice((-1, 0, 0, 1))
    return min(10, max(1, score))


def survey_rows(last_day: date, rng: random.Random) -> list[list]:
    snippets = []
    for line in (DATA_DIR / "en_amazon_snippets.tsv").read_text(encoding="utf-8").splitlines():
        _, mean_rating, text = line.split("\t", 2)
        snippets.append((float(mean_rating), text))
    rng.shuffle(snippets)
    rows = []
    for day in _days(last_day):
        for _ in range(rng.choice((2, 3, 4, 4, 5))):
            mean_rating, text = snippets[len(rows) % len(snippets)]
            anonymous = rng.random() < 0.2
            rows.append(
                [
                    None,
                    _moment(rng, day, 0, 24),
                    None
                    if anonymous
                    else f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAME_INITIALS)}.",
                    _pick(rng, SURVEY_CHANNELS),
                    rng.choice(SURVEY_TOPICS),
                    survey_score(mean_rating, rng),
                    text,
                ]
            )
    rows.sort(key=lambda row: row[1])
    for number, row in enumerate(rows, start=1):
        row[0] = f"R{number:05d}"
    return rows


def _pin_timestamps(path: Path) -> None:
    """openpyxl stamps the save time into the zip entries and `dcterms:modified`; pin both."""
    stamp = f"{FIXED_MOMENT:%Y-%m-%dT%H:%M:%SZ}".encode()
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", data)
            pinned = zipfile.ZipInfo(name, date_time=FIXED_MOMENT.timetuple()[:6])
            archive.writestr(pinned, data, compress_type=zipfile.ZIP_DEFLATED)


def write_surveys(path: Path, last_day: date, rng: random.Random) -> int:
    from openpyxl import Workbook

    rows = survey_rows(last_day, rng)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Responses"
    sheet.append(SURVEY_HEADER)
    for row in rows:
        sheet.append(row)
    for cell in sheet["B"][1:]:
        cell.number_format = "yyyy-mm-dd hh:mm"
    workbook.properties.created = workbook.properties.modified = FIXED_MOMENT
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    _pin_timestamps(path)
    return len(rows)


def build(out: Path, last_day: date) -> dict[str, int]:
    rng = random.Random(SEED)
    complaints = out / "complaints" / f"complaints_export_{last_day:%Y-%m-%d}.csv"
    surveys = out / "surveys" / f"survey_responses_{last_day:%Y-%m-%d}.xlsx"
    return {
        str(complaints): write_complaints(complaints, last_day, rng),
        str(surveys): write_surveys(surveys, last_day, rng),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--last-day", type=date.fromisoformat, default=DEFAULT_LAST_DAY)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    arguments = parser.parse_args(argv)
    for path, rows in build(arguments.out, arguments.last_day).items():
        print(f"{path}: {rows} rows")


if __name__ == "__main__":
    main()
