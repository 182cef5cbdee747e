"""Problem-type tagging, negation, per-dimension sentiment and the hand-checked evaluation."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repwatch.nlp.problem_sample import BATCH_SEEDS, draw
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
from repwatch.nlp.sentiment import NEUTRAL_BAND, normalise
from repwatch.nlp.train import is_held_out

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
    ("质量什么问题都没有", "zh"),  # negation after the complaint word
    ("电池一点毛病也没有", "zh"),
    ("i haven't had a single problem with the software", "en"),
    ("出差住了一晚，房间很干净", "zh"),  # "出差" holds no "差"
    ("位置太偏，很难找", "zh"),  # location complaints are no problem type
    ("do not buy it if you want a camera with a long zoom", "en"),
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
    # Negated praise complains: the negation works both ways.
    ("前台服务员一点也不热情", "zh", ["service_attitude"]),
    ("屏幕不清晰", "zh", ["product_function"]),
    ("the software is not easy to use", "en", ["product_function"]),
    ("the support staff were not helpful at all", "en", ["service_attitude"]),
    # Absence of a part or amenity.
    ("没有摄像头，也没有驱动盘", "zh", ["product_function"]),
    ("it doesn't have bluetooth", "en", ["product_function"]),
    ("书已经付款两周了，还没收到", "zh", ["delivery_logistics"]),
    ("the package never arrived", "en", ["delivery_logistics"]),
    # A clause without an aspect borrows the clause before it.
    ("房间很大，就是太吵", "zh", ["product_quality"]),
    # The longer phrase decides: a book not worth reading is about its content, not its price.
    ("这本书不值一看", "zh", ["product_quality"]),
    # Words for the whole product are the last resort.
    ("这本书很差", "zh", ["product_quality"]),
    ("the dvd player ruined christmas", "en", ["product_quality"]),
    ("do not buy this piece of junk", "en", ["product_quality"]),
    ("我投诉了三次，一直没人处理", "zh", ["slow_feedback"]),
    ("i emailed support twice and never got a response", "en", ["slow_feedback"]),
    ("前台把我的订单弄丢了", "zh", ["service_process"]),
    ("与描述不符，图片上的颜色完全不一样", "zh", ["false_advertising"]),
    ("好评返现，加微信领红包", "zh", ["fake_or_malicious"]),
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


NEGATION_PAIRS = [
    # (complaint, the same aspect with the complaint denied, language, dimension)
    ("物流很慢", "物流不慢", "zh", "delivery"),
    ("物流很慢", "物流一点也不慢", "zh", "delivery"),
    ("质量有问题", "质量没有问题", "zh", "quality"),
    ("质量有问题", "质量什么问题都没有", "zh", "quality"),
    ("价格太贵", "价格不贵", "zh", "price"),
    ("服务态度很差", "服务态度不差", "zh", "service"),
    ("屏幕不清晰", "屏幕很清晰", "zh", "function"),
    ("shipping was slow", "shipping was not slow", "en", "delivery"),
    ("the battery has problems", "no problems with the battery at all", "en", "function"),
    ("the staff were rude", "the staff were not rude", "en", "service"),
    ("the price is expensive", "the price isn't expensive", "en", "price"),
]


@pytest.mark.parametrize(("complaint", "denied", "language", "dimension"), NEGATION_PAIRS)
def test_dimension_sentiment_follows_negation(complaint, denied, language, dimension):
    """A complaint scores its dimension clearly negative; the denied complaint at least mildly
    positive, whatever the bag-of-n-grams model makes of "不慢"."""
    assert dimension_sentiments(complaint, language)[dimension] <= -0.5
    assert dimension_sentiments(denied, language)[dimension] >= NEUTRAL_BAND


def test_dimension_sentiment_ignores_a_phrase_inside_a_longer_one():
    # "不值" (price) inside "不值一看" (content): the price is not mentioned at all.
    assert set(dimension_sentiments("这本书不值一看", "zh")) == {"quality"}


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


def test_model_fallback_is_configurable(tmp_path):
    # "灰蒙蒙" is in no list: only the sentiment model finds the screen clause negative.
    text = "屏幕有点灰蒙蒙"
    assert tag_problems(text, "zh") == ["product_function"]
    rules_only = load_rules(_write_rules(tmp_path, lambda data: data.pop("model_fallback")))
    assert rules_only.model_threshold is None
    assert tag_problems(text, "zh", rules_only) == []


@pytest.mark.parametrize("threshold", [0.5, -1.5, "low", True])
def test_model_fallback_threshold_is_checked(tmp_path, threshold):
    path = _write_rules(
        tmp_path, lambda data: _set(data, ("model_fallback",), {"threshold": threshold})
    )
    with pytest.raises(ValueError, match="model_fallback"):
        load_rules(path)


def test_rules_digest_is_the_same_in_every_process():
    """The enrichment version carries a digest of the rules: it must not depend on hash order."""
    script = (
        "import hashlib; from repwatch.nlp.problems import load_rules; "
        "print(hashlib.sha256(repr(load_rules()).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1
    assert digests == {hashlib.sha256(repr(load_rules()).encode()).hexdigest()}


def test_evaluation_set_is_well_formed():
    items = load_eval_items()
    assert 300 <= len(items) <= 600
    assert {item["language"] for item in items} == {"zh", "en"}
    assert len({item["text"] for item in items}) == len(items)
    assert [item["id"] for item in items] == list(range(len(items)))
    assert [item["batch"] for item in items] == sorted(item["batch"] for item in items)
    for item in items:
        assert item["tags"] == sorted(set(item["tags"]), key=TAXONOMY.index)
        # Drawn from the held-out split only: no text that shaped a rule.
        assert item["text"] == normalise(item["text"]) and is_held_out(item["text"])


@pytest.mark.parametrize("batch", [2, 3])
def test_later_batches_are_reproducible_draws(batch):
    """Each batch after the first is what problem_sample draws with its recorded seed, given
    the batches before it."""
    items = load_eval_items()
    earlier = [item for item in items if item["batch"] < batch]
    drawn = draw(BATCH_SEEDS[batch], batch, earlier)
    expected = [item for item in items if item["batch"] == batch]
    assert [(item["id"], item["text"], item["source"]) for item in drawn] == [
        (item["id"], item["text"], item["source"]) for item in expected
    ]


# Floors are the measured micro figures minus about two binomial standard errors: they catch a
# rules regression, not sampling noise. Measured with problems-2 (`python -m
# repwatch.nlp.problems --evaluate`): all 460 items precision 0.75 (218/290), recall 0.55
# (218/395); batch 1 0.76/0.58, batch 2 0.74/0.56, batch 3 (labelled after the rules were
# final) 0.75/0.52. problems-1 had 0.87/0.36 on batch 1 and 0.83/0.23 on batch 3.
MICRO_PRECISION_FLOOR = 0.70
MICRO_RECALL_FLOOR = 0.50


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
    batches = sorted({item["batch"] for item in load_eval_items()})
    assert all(f"batch {batch})" in result.stdout for batch in batches)


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
