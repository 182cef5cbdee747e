"""Noise, spam and fake-review flags on real and real-looking reviews in both languages."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from repwatch.nlp import flags as F
from repwatch.nlp.flags import flag_batch, flag_text, near_duplicate_groups

DATA = Path(__file__).resolve().parents[1] / "repwatch" / "nlp" / "data"
SPAM_FLAGS = (F.GIBBERISH, F.REPEATED_CHARACTERS)


def real_texts(language: str) -> list[str]:
    if language == "zh":
        lines = (DATA / "zh_pos.txt").read_text(encoding="utf-8").splitlines()
        lines += (DATA / "zh_neg.txt").read_text(encoding="utf-8").splitlines()
        return sorted({line.strip() for line in lines if line.strip()})
    texts = set()
    for name in ("en_amazon_snippets.tsv", "en_movie_snippets.tsv"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3 and parts[2].strip():
                texts.add(parts[2].strip())
    return sorted(texts)


@pytest.mark.parametrize(
    ("text", "language", "flag"),
    [
        ("好评！需要同款的加我微信 abc_12345 有优惠", "zh", F.AD_WECHAT),
        ("便宜出，vx：xiaomei888", "zh", F.AD_WECHAT),
        ("加v信 13912345678 拿内部价", "zh", F.AD_PHONE),
        ("有问题联系QQ：339546，包售后", "zh", F.AD_QQ),
        ("质量很好，更多优惠请看 www.cheap-bags.cn", "zh", F.AD_URL),
        ("招兼职刷单，日结，私聊", "zh", F.AD_PROMOTION),
        ("Great deals at https://bit.ly/xyz123 visit now", "en", F.AD_URL),
        ("Call me on +1 415 555 0132 for a discount", "en", F.AD_PHONE),
        ("Call (415) 555-0132 for cheap replicas", "en", F.AD_PHONE),
        ("Write to sales@replicas-shop.com for wholesale", "en", F.AD_EMAIL),
        ("Work from home and make money fast, ask me how", "en", F.AD_PROMOTION),
        ("asdfghjkl qwertyuiop zxcvbnm", "en", F.GIBBERISH),
        ("dfghdfgh sdfsdfsdf 啊", "zh", F.GIBBERISH),
        ("￥%……&*（）——+！@#￥%……", "zh", F.GIBBERISH),
        ("好好好好好好好好好好好好好好好", "zh", F.REPEATED_CHARACTERS),
        ("好评好评好评好评好评好评", "zh", F.REPEATED_CHARACTERS),
        ("goodgoodgoodgoodgoodgood", "en", F.REPEATED_CHARACTERS),
        ("好", "zh", F.TOO_SHORT),
        ("Great!", "en", F.TOO_SHORT),
        ("👍", "other", F.TOO_SHORT),
    ],
)
def test_each_flag_on_a_real_looking_example(text, language, flag):
    assert flag in flag_text(text, language=language)


@pytest.mark.parametrize(
    "text",
    [
        "质量不错，物流很快，下次还会买。",
        "客服电话打了三次都没人接，4007002000 这个号码根本没用",  # a company hotline
        "订单号 2023112812345678 到现在还没发货",  # order numbers are not phone numbers
        "哈哈哈，太好用了！",
        "Sooooo good, love it!!!",
        "The battery life is great, about 10 hours on one charge.",
        "👍👍👍 超级好用",
    ],
)
def test_ordinary_reviews_raise_no_flag(text):
    language = "zh" if any("\u4e00" <= char <= "\u9fff" for char in text) else "en"
    assert flag_text(text, language=language) == []


def test_off_topic_needs_an_opinion_free_score_and_no_review_word():
    chat = "Does anyone know when the parade begins tomorrow morning downtown?"
    assert F.OFF_TOPIC in flag_text(chat, language="en", sentiment_score=0.02)
    # Without a score there is no evidence the text holds no opinion.
    assert F.OFF_TOPIC not in flag_text(chat, language="en")
    assert F.OFF_TOPIC not in flag_text(chat, language="en", sentiment_score=0.8)
    assert flag_text(
        "关注公众号，每天分享育儿知识和生活日常", language="zh", sentiment_score=0.0
    ) == [F.OFF_TOPIC]
    assert flag_text("房间干净，早餐一般", language="zh", sentiment_score=0.0) == []


def test_rating_text_mismatch_uses_named_thresholds():
    angry = "Broke after two days, worst purchase ever"
    assert F.RATING_TEXT_MISMATCH in flag_text(
        angry, language="en", rating=5, sentiment_score=F.CLEARLY_NEGATIVE
    )
    assert F.RATING_TEXT_MISMATCH in flag_text(
        "非常满意，推荐购买", language="zh", rating=1, sentiment_score=F.CLEARLY_POSITIVE
    )
    mild = F.CLEARLY_NEGATIVE + 0.1
    assert F.RATING_TEXT_MISMATCH not in flag_text(
        angry, language="en", rating=5, sentiment_score=mild
    )
    assert F.RATING_TEXT_MISMATCH not in flag_text(
        angry, language="en", rating=4, sentiment_score=-1.0
    )
    assert F.RATING_TEXT_MISMATCH not in flag_text(angry, language="en", rating=5)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_few_spam_flags_on_ordinary_real_reviews(language):
    """Every text here is an ordinary labelled review, so each spam flag is a false alarm
    unless the reviewer really pasted a link or contact (the corpus has a few). One in 50
    is the most a person triaging flags can absorb before the flag stops meaning anything."""
    sample = random.Random(20240601).sample(real_texts(language), 500)
    flagged = [
        text
        for text in sample
        if any(
            flag in SPAM_FLAGS or flag.startswith("ad_or_contact:")
            for flag in flag_text(text, language=language)
        )
    ]
    assert len(flagged) <= 500 // 50, flagged


def edit(text: str, rng: random.Random) -> str:
    """A small edit of the kind copy-paste reviewers make: a changed character, an added
    exclamation, trailing words."""
    position = rng.randrange(len(text) // 3, len(text) - 1)
    changed = text[:position] + ("很" if "\u4e00" <= text[position] <= "\u9fff" else "x")
    return changed + text[position + 1 :] + "！！"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_near_duplicates_by_other_authors_are_found(language):
    rng = random.Random(7)
    pool = [text for text in real_texts(language) if 40 <= len(text) <= 300]
    originals = rng.sample(pool, 40)
    items = [{"text": text, "author": f"original-{i}"} for i, text in enumerate(originals)]
    items += [
        {"text": edit(text, rng), "author": f"copier-{i}"} for i, text in enumerate(originals)
    ]
    result = flag_batch(items)
    assert all(F.NEAR_DUPLICATE in flags for flags in result)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_distinct_real_reviews_are_not_near_duplicates(language):
    sample = random.Random(11).sample(real_texts(language), 2000)
    groups = near_duplicate_groups(sample)
    grouped = [g for g in groups if g is not None]
    repeated = len(grouped) - len(set(grouped))
    # The corpora hold some templated reviews and sentence fragments of one review, so a few
    # true near-duplicates remain after exact de-duplication; 1% is far above what a broken
    # hash or threshold would produce.
    assert repeated <= len(sample) // 100


def test_same_author_repeats_are_not_near_duplicates():
    text = "这家店的牛肉面汤头很浓，面条劲道，就是等位时间有点长，周末去要早点。"
    items = [
        {"text": text, "author": "alice"},
        {"text": text + "！", "author": "alice"},
        {
            "text": "Completely different review about a hotel room with a broken air conditioner.",
            "author": "bob",
        },
    ]
    assert flag_batch(items) == [[], [], []]
    items.append({"text": text, "author": "mallory"})
    assert [F.NEAR_DUPLICATE in flags for flags in flag_batch(items)] == [True, True, False, True]


def test_short_generic_texts_are_not_near_duplicates():
    items = [{"text": "质量很好，物流很快", "author": f"u{i}"} for i in range(5)]
    items += [{"text": "Great app, love it", "author": f"v{i}"} for i in range(5)]
    assert all(F.NEAR_DUPLICATE not in flags for flags in flag_batch(items))


def burst_items(hours: list[float], rating: int, target: str = "t1") -> list[dict]:
    return [
        {
            "text": None,
            "author": f"{target}-{rating}-{index}",
            "rating": rating,
            "published_at": f"2026-11-{1 + int(hour // 24):02d}T{int(hour % 24):02d}:"
            f"{int(hour * 60 % 60):02d}:00+00:00",
            "source": "appstore",
            "target_id": target,
            "review_id": f"{target}-{rating}-{index}",
        }
        for index, hour in enumerate(hours)
    ]


def test_rating_burst_against_the_targets_usual_rate():
    usual = burst_items([24.0 * day + 9 for day in range(20)], 1)  # one a day for 20 days
    burst = burst_items([24 * 10 + 12 + 0.5 * k for k in range(8)], 1, "t1")
    for index, item in enumerate(burst):
        item["author"] = f"burst-{index}"
    result = flag_batch(usual + burst)
    assert all(F.RATING_BURST in flags for flags in result[len(usual) :])
    assert sum(F.RATING_BURST in flags for flags in result[: len(usual)]) <= 1


def test_no_burst_at_a_steady_rate_or_below_the_minimum_count():
    steady = burst_items([2.0 * k for k in range(200)], 5)  # busy but even
    few = burst_items([100 + 0.1 * k for k in range(F.BURST_MIN_COUNT - 1)], 1, "t2")
    assert all(F.RATING_BURST not in flags for flags in flag_batch(steady + few))


def test_burst_counts_one_target_and_one_rating_at_a_time():
    mixed = []
    for k in range(8):
        mixed += burst_items([50 + 0.2 * k], 1 if k % 2 else 5, f"t{k}")
    mixed += burst_items([24.0 * day for day in range(10)], 1, "t0")
    assert all(F.RATING_BURST not in flags for flags in flag_batch(mixed))


def test_batch_flags_include_per_item_flags_and_use_given_language():
    items = [
        {"text": "加微信 abc12345 领优惠", "author": "a", "rating": 5, "language": "zh"},
        {"text": "Broke in a day", "author": "b", "rating": 5, "sentiment_score": -0.9},
        {"text": None, "author": "c", "rating": 3, "published_at": "not a date"},
    ]
    assert flag_batch(items) == [[F.AD_WECHAT], [F.RATING_TEXT_MISMATCH], []]


def test_hostile_input_does_not_crash():
    huge = "<script>alert('x')</script>" + "质量不错，物流很快。" * 100_000
    for text in (huge, "😀" * 5000, "\x00\ud800<b>", "", "   ", None):
        flag_text(text, language="zh", rating=5, sentiment_score=0.0)
    items = [{"text": text, "author": str(i)} for i, text in enumerate((huge, huge, "😀" * 50))]
    result = flag_batch(items)
    assert F.NEAR_DUPLICATE in result[0] and F.NEAR_DUPLICATE in result[1]
