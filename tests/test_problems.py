"""Problem-type tagging, negation, per-dimension sentiment and the hand-checked evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repwatch.nlp.problems import (
    DIMENSIONS,
    EVAL_PATH,
    RULES_PATH,
    TAXONOMY,
    dimension_sentiments,
    evaluate,
    load_eval_items,
    load_rules,
    tag_many,
    tag_problems,
)

REPO = Path(__file__).resolve().parents[1]

NOT_COMPLAINTS = [
    ("物流不慢", "zh"),
    ("物流一点也不慢", "zh"),
    ("快递一点都不慢，很满意", "zh"),
    ("质量没有问题", "zh"),
    ("服务态度不差", "zh"),
    ("价格不贵", "zh"),
    ("shipping was not slow", "en"),
    ("no problems with the battery at all", "en"),
    ("the delivery was never late", "en"),
    ("the staff were not rude", "en"),
    ("the price isn't expensive for what you get", "en"),
]

COMPLAINTS = [
    ("物流很慢", "zh", ["delivery_logistics"]),
    ("快递太慢了", "zh", ["delivery_logistics"]),
    ("质量没有问题，物流很慢", "zh", ["delivery_logistics"]),
    ("质量很好但是物流很慢", "zh", ["delivery_logistics"]),
    ("前台态度很差", "zh", ["service_attitude"]),
    ("卫生间漏水", "zh", ["product_quality"]),
    ("价格太贵", "zh", ["price"]),
    ("shipping was slow", "en", ["delivery_logistics"]),
    ("the staff were rude", "en", ["service_attitude"]),
    ("it broke after a week", "en", ["product_quality"]),
    ("way too expensive", "en", ["price"]),
    ("it is not slow, but the staff were rude", "en", ["service_attitude"]),
]

PRAISE = [
    ("物流很快，服务态度也很好", "zh"),
    ("京东送货的速度和服务都是一流的。", "zh"),
    ("价格便宜，质量不错", "zh"),
    ("fast shipping and friendly staff", "en"),
    ("great value and the build quality is excellent", "en"),
]


@pytest.mark.parametrize(("text", "language"), NOT_COMPLAINTS)
def test_negated_complaints_do_not_fire(text, language):
    assert tag_problems(text, language) == []


@pytest.mark.parametrize(("text", "language", "expected"), COMPLAINTS)
def test_complaints_fire(text, language, expected):
    assert tag_problems(text, language) == expected


@pytest.mark.parametrize(("text", "language"), PRAISE)
def test_praise_is_not_a_problem(text, language):
    assert tag_problems(text, language) == []


def test_multi_label_in_taxonomy_order():
    text = "价格太贵，物流很慢，前台态度很差，房间有异味"
    assert tag_problems(text, "zh") == [
        "product_quality",
        "service_attitude",
        "delivery_logistics",
        "price",
    ]
    english = "overpriced, arrived late and the staff were rude"
    tags = tag_problems(english, "en")
    assert tags == sorted(tags, key=TAXONOMY.index)
    assert set(tags) == {"service_attitude", "delivery_logistics", "price"}


@pytest.mark.parametrize("text", [None, "", "   ", "<p></p>", "👍👍"])
def test_empty_text_has_no_tags_and_no_dimensions(text):
    assert tag_problems(text, "zh") == []
    assert dimension_sentiments(text, "en") == {}


def test_html_is_stripped_before_matching():
    assert tag_problems("<p>Way too <b>expensive</b> &amp; slow shipping</p>", "en") == [
        "delivery_logistics",
        "price",
    ]
    # Markup words never count as text.
    assert tag_problems('<div class="broken">great phone</div>', "en") == []


def test_other_languages_are_not_tagged():
    assert tag_problems("物流很慢", "other") == []


def test_dimension_sentiments_cover_mentioned_dimensions_only():
    scores = dimension_sentiments("质量很好，但是物流太慢了", "zh")
    assert set(scores) == {"quality", "delivery"}
    assert scores["quality"] > 0 > scores["delivery"]
    assert all(-1 <= value <= 1 for value in scores.values())
    english = dimension_sentiments("The price is great but the delivery was late.", "en")
    assert set(english) == {"price", "delivery"}
    assert english["price"] > 0 > english["delivery"]
    assert set(dimension_sentiments("哈哈哈", "zh")) <= set(DIMENSIONS)


def test_tag_many_matches_single_calls_and_is_deterministic():
    items = load_eval_items()
    texts = [item["text"] for item in items]
    languages = [item["language"] for item in items]
    first = tag_many(texts, languages)
    assert first == tag_many(texts, languages)
    assert first == [tag_problems(t, lang) for t, lang in zip(texts, languages, strict=True)]


def _write_rules(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _set(data, keys, value):
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (("types", "price", "names"), {"zh": "价格"}, "names needs a zh and an en"),
        (("types", "price", "dimension"), "taste", "dimension 'taste'"),
        (("types", "price", "phrases", "en"), "expensive", "phrases.en: expected a list"),
        (("types", "price", "phrases"), {"zh": [], "en": []}, "phrases are empty"),
        (("types", "weather"), {"names": {"zh": "天", "en": "W"}}, "unknown type"),
        (("negation", "window", "zh"), 0, "negation.window"),
    ],
)
def test_wrong_rules_file_names_file_type_and_problem(tmp_path, keys, value, message):
    path = _write_rules(tmp_path, lambda data: _set(data, keys, value))
    with pytest.raises(ValueError) as error:
        load_rules(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    if keys[0] == "types":
        assert repr(keys[1]) in str(error.value)


def test_unreadable_or_invalid_yaml_names_the_file(tmp_path):
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ValueError, match="absent.yaml"):
        load_rules(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("types: [unclosed", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.yaml"):
        load_rules(broken)


def test_own_rules_file_replaces_the_shipped_one(tmp_path):
    def only_delivery(data):
        data["types"] = {"delivery_logistics": data["types"]["delivery_logistics"]}
        data["types"]["delivery_logistics"]["phrases"]["zh"] = ["送得像蜗牛"]

    rules = load_rules(_write_rules(tmp_path, only_delivery))
    assert [problem.id for problem in rules.types] == ["delivery_logistics"]
    assert tag_problems("送得像蜗牛", "zh", rules) == ["delivery_logistics"]
    assert tag_problems("价格太贵", "zh", rules) == []
    assert tag_problems("送得像蜗牛", "zh") == []


def test_shipped_rules_name_every_type_in_both_languages():
    rules = load_rules()
    assert [problem.id for problem in rules.types] == list(TAXONOMY)
    assert all(problem.names["zh"] and problem.names["en"] for problem in rules.types)


def test_evaluation_set_is_well_formed():
    items = load_eval_items()
    assert 150 <= len(items) <= 250
    assert {item["language"] for item in items} == {"zh", "en"}
    assert len({item["text"] for item in items}) == len(items)
    for item in items:
        assert item["tags"] == sorted(set(item["tags"]), key=TAXONOMY.index)


# Floors are the measured micro figures (precision 0.87, recall 0.36 on 160 items) minus about
# two binomial standard errors: they catch a rules regression, not sampling noise. The issue sets
# no target for problem types; the figures are reported as they are.
MICRO_PRECISION_FLOOR = 0.75
MICRO_RECALL_FLOOR = 0.28


def test_evaluation_report_runs_and_is_above_the_floors():
    per_type, micro = evaluate(load_eval_items())
    assert [score.type_id for score in per_type] == list(TAXONOMY)
    assert micro.expected == sum(len(item["tags"]) for item in load_eval_items())
    assert micro.precision >= MICRO_PRECISION_FLOOR
    assert micro.recall >= MICRO_RECALL_FLOOR
    result = subprocess.run(
        [sys.executable, "-m", "repwatch.nlp.problems", "--evaluate"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    micro_line = next(line for line in lines if line.startswith("micro"))
    assert f"{micro.precision:.2f}" in micro_line and f"{micro.recall:.2f}" in micro_line
    assert all(any(line.startswith(type_id) for line in lines) for type_id in TAXONOMY)


def test_evaluation_counts_mistakes(tmp_path):
    items = [
        {"text": "物流很慢", "language": "zh", "tags": ["delivery_logistics"]},
        {"text": "价格太贵", "language": "zh", "tags": ["product_quality"]},
    ]
    per_type, micro = evaluate(items)
    scores = {score.type_id: score for score in per_type}
    assert (micro.expected, micro.predicted, micro.correct) == (2, 2, 1)
    assert scores["price"].precision == 0.0 and scores["product_quality"].recall == 0.0
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items), encoding="utf-8")
    assert load_eval_items(path) == items
    assert EVAL_PATH.exists()
