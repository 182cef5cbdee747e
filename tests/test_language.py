import pytest

from repwatch.nlp.language import detect_language, detect_languages

CASES = [
    # Chinese, short and long
    ("很好", "zh"),
    ("质量不错，物流很快，下次还会买。", "zh"),
    ("房间太小了，隔音差，不推荐", "zh"),
    # Chinese quoting English product names
    ("iPhone 很好用", "zh"),
    ("买了 Sony WH-1000XM4 Wireless Noise Cancelling Headphones，音质很好", "zh"),
    ("这个 App 太卡了，iOS 17 上老是闪退", "zh"),
    ("客服说可以退款 www.example.com 看看", "zh"),
    # English, incl. one Chinese word
    ("Great product!", "en"),
    ("The battery died after two days, not good.", "en"),
    ("The 火锅 was amazing and the staff were friendly", "en"),
    ("I love 小笼包 so much, will come back", "en"),
    ("ok", "en"),
    # no language at all
    ("", "other"),
    (None, "other"),
    ("👍👍👍", "other"),
    ("!!!???...", "other"),
    ("😡 12345 ！！", "other"),
    # other scripts
    ("とても良い商品でした。また買いたいです。", "other"),
    ("使いやすいです", "other"),
    ("배송이 빠르고 좋아요", "other"),
    ("Очень хороший товар, спасибо", "other"),
    ("منتج رائع جدا", "other"),
    # other Latin-script languages with stop-word evidence
    ("Très bon produit, je le recommande et la livraison est rapide", "other"),
    ("Das Produkt ist sehr gut und die Lieferung war schnell", "other"),
    ("El producto es muy bueno pero la entrega fue lenta", "other"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_detect_language(text, expected):
    assert detect_language(text) == expected


def test_detect_languages_matches_single_calls():
    texts = [text for text, _ in CASES]
    assert detect_languages(texts) == [expected for _, expected in CASES]


def test_records_detect_language_still_answers():
    from repwatch.records import detect_language as record_language

    assert record_language("质量不错") == "zh"
    assert record_language("Great product") == "en"


def test_hostile_input_does_not_crash():
    long_text = "<script>alert(1)</script>" + "很好" * 50_000 + "\x00\ud800"
    assert detect_language(long_text) == "zh"
