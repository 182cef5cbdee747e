import gzip
import json
from pathlib import Path

import pytest

from repwatch.bench.sentiment import (
    EN_ACCURACY_TARGET,
    SNOWNLP_PEER,
    ZH_ACCURACY_TARGET,
    accuracy_row,
    compared_accuracy_row,
    hand_checked_polar,
    held_out_polar,
    repwatch_scores,
)
from repwatch.nlp import train
from repwatch.nlp.sentiment import (
    MODEL_PATH,
    NEUTRAL_BAND,
    VADER_SCORES,
    analyse,
    analyse_many,
    combine_with_rating,
    language_model_from_dict,
    load_model,
    mark_negation,
    normalise,
    shipped_model,
    vader_analyser,
    vader_features,
)
from repwatch.nlp.train import (
    DATA_DIR,
    HAND_CHECKED_FILE,
    HAND_CHECKED_SAMPLE,
    HAND_LABELS,
    binary_accuracy,
    hand_check_sample,
    is_held_out,
    load_examples,
    load_hand_checked,
    serialise,
    split,
    train_language,
    write_hand_check_sheet,
)

MEASURED = "measured on the held-out split; see repwatch/nlp/models/MODEL_CARD.md"


@pytest.fixture(scope="module", params=["zh", "en"])
def language_examples(request):
    return request.param, load_examples(request.param)


def test_examples_are_deduplicated(language_examples):
    _language, examples = language_examples
    texts = [example.text for example in examples]
    assert len(texts) == len(set(texts))
    assert all(texts)


def test_texts_labelled_both_ways_are_dropped():
    def lines(name):
        return {normalise(line) for line in (DATA_DIR / name).read_text("utf-8").splitlines()}

    both = (lines("zh_pos.txt") & lines("zh_neg.txt")) - {""}
    assert len(both) >= 40  # SOURCE-zh.txt: 47 raw lines are in both files
    assert not both & {example.text for example in load_examples("zh")}


def test_split_is_deterministic_and_disjoint(language_examples):
    _language, examples = language_examples
    training, held_out = split(examples)
    again_training, again_held_out = split(list(reversed(examples)))
    assert {e.text for e in training} == {e.text for e in again_training}
    assert {e.text for e in held_out} == {e.text for e in again_held_out}
    assert not {e.text for e in training} & {e.text for e in held_out}
    assert len(training) + len(held_out) == len(examples)
    assert 0.15 < len(held_out) / len(examples) < 0.25
    assert all(is_held_out(e.text) for e in held_out)
    assert not any(is_held_out(e.text) for e in training)


def test_shipped_model_was_trained_on_the_training_split_only():
    model_file = load_model()
    artefact = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    for language in ("zh", "en"):
        training, _held_out = split(load_examples(language))
        polar_training = sum(example.label in (0, 1) for example in training)
        assert artefact["languages"][language]["training_examples"] == polar_training
    assert set(model_file.languages) == {"zh", "en"}
    assert MODEL_PATH.stat().st_size <= 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("质量很好，物流也快，非常满意", "positive"),
        ("很好", "positive"),
        ("不好", "negative"),
        ("服务态度很差，再也不来了", "negative"),
        ("Great product, works perfectly, highly recommend", "positive"),
        ("good", "positive"),
        ("not good", "negative"),
        ("Terrible. It broke after one day and support never answered.", "negative"),
    ],
)
def test_shipped_model_predicts(text, label):
    assert analyse(text).label == label


@pytest.mark.parametrize("text", ["", None, "   ", "👍👍👍", "😡", "!!!", "12345"])
def test_textless_input_is_neutral_with_low_magnitude(text):
    result = analyse(text)
    assert result.label == "neutral"
    assert abs(result.score) < NEUTRAL_BAND


def test_hostile_input_does_not_crash():
    texts = [
        "<html><script>alert('x')</script><p>很好</p></html>" * 200,
        "great " * 200_000,
        "差" * 500_000,
        "\x00\x01\ud800\u202e mixed 很好 \ufeff",
        "a" * 1_000_000,
    ]
    results = analyse_many(texts)
    assert len(results) == len(texts)
    assert all(-1.0 <= result.score <= 1.0 for result in results)


def test_scores_stay_within_bounds_on_held_out_items():
    for language in ("zh", "en"):
        scores = repwatch_scores(held_out_polar(language)[:2000], language)
        assert all(-1.0 <= score <= 1.0 for score in scores)
        assert min(scores) < -NEUTRAL_BAND and max(scores) > NEUTRAL_BAND


def test_batch_and_single_scores_agree():
    texts = ["质量很好", "not good at all", None, "iPhone 很好用", "Très bien"]
    assert analyse_many(texts) == [analyse(text) for text in texts]


def test_training_is_deterministic_on_a_small_subset():
    training, held_out = split(load_examples("zh"))
    subset = training[::8]  # both labels: the files list all positives first
    first = train_language("zh", subset, seed=7)
    second = train_language("zh", subset, seed=7)
    assert serialise(first) == serialise(second)
    probe = [example.text for example in held_out[:300]]
    first_scores = language_model_from_dict("zh", first).scores(probe)
    second_scores = language_model_from_dict("zh", second).scores(probe)
    assert (first_scores == second_scores).all()
    # A model trained on the small subset is still far better than chance on held-out items.
    polar = [example for example in held_out[:300] if example.label in (0, 1)]
    assert binary_accuracy(first_scores, polar, 0.0) > 0.7


@pytest.mark.parametrize(
    ("text", "marked"),
    [
        ("not good", "not neg_good"),
        ("it isn't bad, but it's loud.", "it isn't neg_bad , but it's loud ."),
        ("no problems so far!", "no neg_problems neg_so neg_far !"),
        ("good value", "good value"),
    ],
)
def test_negation_scope_ends_at_punctuation_or_contrast(text, marked):
    assert mark_negation(text) == marked


def test_english_model_weighs_the_lexicon_scores():
    english = shipped_model().languages["en"]
    assert english.lexicon_coefficients.shape == (len(VADER_SCORES),)
    weights = dict(zip(VADER_SCORES, english.lexicon_coefficients, strict=True))
    # More of VADER's positive share means more positive; more negative share, less.
    assert weights["pos"] > 0 > weights["neg"]
    assert shipped_model().languages["zh"].lexicon_coefficients.shape == (0,)
    assert vader_features([]).shape == (0, len(VADER_SCORES))


def test_lexicon_reaches_words_the_training_data_lacks():
    # Strong VADER lexicon words that no English training text contains: n-grams alone leave
    # most of them neutral or wrong (sentiment-1 labelled 21 % right); the lexicon features
    # carry their polarity.
    training_words = {word for example in load_examples("en") for word in example.text.split()}
    valences = {
        word: valence
        for word, valence in vader_analyser().lexicon.items()
        if word.isalpha() and word not in training_words and abs(valence) >= 2.0
    }
    assert len(valences) > 1000
    words = sorted(valences)
    expected = ["positive" if valences[word] > 0 else "negative" for word in words]
    labels = [result.label for result in analyse_many(words, ["en"] * len(words))]
    agreeing = sum(label == wanted for label, wanted in zip(labels, expected, strict=True))
    assert agreeing / len(words) >= 0.95


def test_cross_validation_stays_inside_the_training_split(tmp_path, monkeypatch):
    for name in ("zh_pos.txt", "zh_neg.txt"):
        lines = (DATA_DIR / name).read_text("utf-8").splitlines()
        (tmp_path / name).write_text("\n".join(lines[:1500]), "utf-8")
    fitted_on: list[set[str]] = []

    def recording_train_language(language, examples, seed=train.SEED):
        fitted_on.append({example.text for example in examples})
        return train_language(language, examples, seed)

    monkeypatch.setattr(train, "train_language", recording_train_language)
    accuracy = train.cross_validate("zh", tmp_path, folds=3)
    training, held_out = split(load_examples("zh", tmp_path))
    assert len(fitted_on) == 3
    assert set().union(*fitted_on) == {example.text for example in training}
    assert not set().union(*fitted_on) & {example.text for example in held_out}
    assert set(accuracy) == {"snownlp"}
    assert 0.7 < accuracy["snownlp"] <= 1.0


@pytest.mark.parametrize(
    ("score", "rating", "label", "disagreement"),
    [
        (-0.95, 5, "negative", True),  # five stars, angry text
        (0.9, 1, "positive", True),  # one star, praise
        (0.9, 5, "positive", False),
        (-0.9, 1, "negative", False),
        (0.1, 5, "positive", False),  # neutral text leans on the stars
        (0.0, 1, "negative", False),
        (-0.3, 4, "neutral", False),  # mildly negative text, good stars: not a clear clash
        (0.7, None, "positive", False),
        (-0.7, None, "negative", False),
        (0.1, None, "neutral", False),
        (0.0, 3, "neutral", False),
        (5.0, 7, "positive", False),  # out-of-range inputs are clamped / ignored
    ],
)
def test_combine_with_rating(score, rating, label, disagreement):
    combined_label, combined_score, flagged = combine_with_rating(score, rating)
    assert (combined_label, flagged) == (label, disagreement)
    assert -1.0 <= combined_score <= 1.0


@pytest.mark.parametrize("corpus", ["amazon", "movie"])
def test_held_out_accuracy_beats_vader(corpus):
    row = accuracy_row(corpus, "en", target=0.0, peer="VADER")
    assert row.value > row.peer_value


def test_hand_checked_sample_is_the_coded_sample_of_held_out_lines():
    """The hand labels cover exactly the sample drawn in code from the held-out split, in its
    order, with the file label each line really has: no training line, no picked lines."""
    rows = [
        row.split("\t", 2)
        for row in (DATA_DIR / HAND_CHECKED_FILE).read_text("utf-8").splitlines()[1:]
    ]
    sample = hand_check_sample(load_examples("zh"))
    assert len(rows) == len(sample) == HAND_CHECKED_SAMPLE
    for (hand_label, file_label, text), example in zip(rows, sample, strict=True):
        assert text == example.text and is_held_out(text)
        assert file_label == ("positive" if example.label == 1 else "negative")
        assert hand_label in HAND_LABELS


def test_hand_check_sheet_lists_the_sample_unlabelled(tmp_path):
    sheet = tmp_path / "sheet.tsv"
    assert write_hand_check_sheet(sheet) == HAND_CHECKED_SAMPLE
    lines = sheet.read_text("utf-8").splitlines()
    assert lines[0] == (DATA_DIR / HAND_CHECKED_FILE).read_text("utf-8").splitlines()[0]
    assert all(line.startswith("\t") for line in lines[1:])
    assert [line.split("\t", 2)[2] for line in lines[1:]] == [
        example.text for example in load_hand_checked()
    ]


def test_hand_checked_accuracy_beats_snownlp():
    # SnowNLP runs at ~100 texts/s, so the test takes the 524 hand-checked lines; the benchmark
    # also compares the two over all 3,522 held-out lines.
    row = compared_accuracy_row("hand-checked", hand_checked_polar(), "zh", 0.0, SNOWNLP_PEER)
    assert row.value > row.peer_value


@pytest.mark.xfail(
    strict=True,
    reason="issue-4 targets not reached on this data (zh ~0.91 on the hand-checked sample, "
    "en Amazon ~0.86); " + MEASURED,
)
def test_accuracy_meets_the_issue_targets():
    zh = hand_checked_polar()
    amazon = held_out_polar("en", "amazon")
    assert binary_accuracy(repwatch_scores(zh, "zh"), zh, 0.0) >= ZH_ACCURACY_TARGET
    assert binary_accuracy(repwatch_scores(amazon, "en"), amazon, 0.0) >= EN_ACCURACY_TARGET


def test_data_ships_with_source_and_licence():
    data = Path(DATA_DIR)
    for name in ("SOURCE-zh.txt", "LICENSE-zh.md", "SOURCE-en.txt", "LICENSE-en.txt"):
        assert (data / name).read_text("utf-8").strip()
    assert shipped_model().version
