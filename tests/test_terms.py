"""Terms for the word cloud: jieba for Chinese, a regex for English, stop words, phrases."""

from __future__ import annotations

from repwatch.nlp.terms import PHRASE_MIN_TEXTS, terms, top_terms


def test_chinese_terms_are_jieba_words_without_stop_words():
    assert terms("质量不错，物流很快，但是客服态度太差了。", "zh") == [
        "质量",
        "不错",
        "物流",
        "很快",
        "客服",
        "态度",
        "太差",
    ]


def test_chinese_keeps_single_han_opinion_words_and_latin_product_names():
    assert terms("买了 iPhone 15，价格贵", "zh") == ["买", "iphone", "价格", "贵"]


def test_english_terms_are_lower_case_content_words():
    assert terms("The screen is AMAZING, but it's 2 inches too small!", "en") == [
        "screen",
        "amazing",
        "inches",
        "small",
    ]


def test_listed_phrases_are_one_term_but_never_across_punctuation():
    assert terms("Battery life is short; customer service was rude.", "en") == [
        "battery life",
        "short",
        "customer service",
        "rude",
    ]
    assert terms("I bought a new battery. Life is good.", "en") == [
        "bought",
        "new",
        "battery",
        "life",
        "good",
    ]


def test_frequent_bigrams_become_phrases_in_top_terms():
    texts = ["Noise cancelling works well"] * PHRASE_MIN_TEXTS + ["The noise is loud"]
    counts = dict(top_terms(texts, ["en"] * len(texts)))
    assert counts["noise cancelling"] == PHRASE_MIN_TEXTS
    assert counts["noise"] == 1
    rare = ["Noise cancelling works well"] * (PHRASE_MIN_TEXTS - 1)
    assert "noise cancelling" not in dict(top_terms(rare, ["en"] * len(rare)))


def test_top_terms_counts_both_languages_and_orders_ties_by_term():
    texts = ["物流很快", "物流太慢", "Fast delivery", "Slow delivery"]
    result = top_terms(texts, ["zh", "zh", "en", "en"], n=3)
    assert result == [("delivery", 2), ("物流", 2), ("fast", 1)]


def test_hostile_input_does_not_crash():
    assert terms(None, "zh") == [] and terms("", "en") == []
    assert terms("😀😀 !!! 123", "en") == []
    assert terms("<div class='review'><b>Great</b> phone</div>", "en") == ["great", "phone"]
    huge = "质量不错 good quality " * 60_000  # over 1 MB
    assert terms(huge, "zh")[:3] == ["质量", "不错", "good"]
    assert terms(huge, "en")[:2] == ["good", "quality"]
    terms("\x00\ud800", "zh")
