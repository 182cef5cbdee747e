"""Noise, spam and fake-review flags: labels with a reason code, never deletion.

Per item (`flag_text`): ads and contact details, gibberish, repeated characters, texts too
short to say anything, off-topic texts, and star ratings the text clearly contradicts.
Per batch (`flag_batch`): near-duplicate texts posted by different authors (MinHash over
character shingles with LSH banding, then an exact Jaccard check of each candidate pair) and
bursts of extreme ratings for one target.

Every rule is deliberately conservative: a flag sends an item to a person or out of a metric,
so a false alarm on an ordinary review costs more than a missed spammer.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from repwatch.nlp.language import detect_language

AD_URL = "ad_or_contact:url"
AD_EMAIL = "ad_or_contact:email"
AD_PHONE = "ad_or_contact:phone"
AD_WECHAT = "ad_or_contact:wechat"
AD_QQ = "ad_or_contact:qq"
AD_PROMOTION = "ad_or_contact:promotion"
GIBBERISH = "gibberish"
REPEATED_CHARACTERS = "repeated_characters"
TOO_SHORT = "too_short"
OFF_TOPIC = "off_topic"
RATING_TEXT_MISMATCH = "rating_text_mismatch"
NEAR_DUPLICATE = "near_duplicate"
RATING_BURST = "rating_burst"

# Sentiment scores (in [-1, 1]) that count as a clear verdict of the text.
CLEARLY_POSITIVE = 0.5
CLEARLY_NEGATIVE = -0.5
# Units are Han characters plus Latin words plus digit groups; "好" or "Great!" say nothing.
MIN_UNITS = 2
# Off-topic is only judged on texts long enough to have mentioned the product somewhere,
# and only when a sentiment score is given and hears no opinion in them.
OFF_TOPIC_MIN_UNITS = 6
OFF_TOPIC_MAX_SENTIMENT = 0.25
# Gibberish: share of letters in unpronounceable Latin tokens, or of symbols in the text.
GIBBERISH_LETTER_SHARE = 0.5
GIBBERISH_MIN_LETTERS = 6
SYMBOL_SOUP_SHARE = 0.7
SYMBOL_SOUP_MIN_CHARS = 8
# Repetition: a unit of 1-4 characters repeated 4+ times that fills most of the text.
REPEAT_MIN_COPIES = 4
REPEAT_SHARE = 0.6
REPEAT_MIN_CHARS = 8

# Near-duplicates: Jaccard similarity of character-shingle sets. 0.6 keeps copies with a
# changed word or two, a swapped brand name or added punctuation (see tests/test_flags.py),
# while separate reviews of one product stay far below it.
NEAR_DUPLICATE_JACCARD = 0.6
HAN_SHINGLE = 3  # characters per shingle when the text has Han characters
LATIN_SHINGLE = 5
# Short generic texts ("质量很好，物流很快", "Great app, love it") are written by many
# people independently; a Han character counts twice towards this length.
NEAR_DUPLICATE_MIN_LENGTH = 24
MINHASH_BANDS = 16
MINHASH_ROWS = 4  # 16 bands x 4 rows: pairs at Jaccard 0.6 become candidates 88% of the time
LSH_BUCKET_ALL_PAIRS = 50  # larger buckets are checked against their first member only
MINHASH_SEED = 20240601

# Rating bursts: at least BURST_MIN_COUNT one-star (or five-star) reviews of one target
# within BURST_WINDOW_HOURS, and at least BURST_RATE_FACTOR times the number expected in
# such a window from that target's mean rate of the same rating over the batch's time span.
BURST_WINDOW_HOURS = 6
BURST_MIN_COUNT = 5
BURST_RATE_FACTOR = 5.0
EXTREME_RATINGS = (1, 5)

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-z]+")
_DIGITS = re.compile(r"\d+")
_URL = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|[a-z0-9][a-z0-9-]{1,62}\.(?:com|net|org|cn|info|biz|top|xyz|shop|vip|cc|io|me|co)"
    r"(?:\.cn)?(?:/\S*)?\b",
    re.IGNORECASE,
)
_URL_HINT = re.compile(
    r"://|www\.|\.(?:com|net|org|cn|info|biz|top|xyz|shop|vip|cc|io|me|co)\b", re.IGNORECASE
)
_EMAIL = re.compile(r"\b[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+\b", re.IGNORECASE)
# Mainland mobiles, landlines with area code, +country numbers, US style. Company 400/800
# hotlines are left out: customers quote them in complaints as often as advertisers do.
_PHONE = re.compile(
    r"(?<![\d.])(?:"
    r"(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}"
    r"|0\d{2,3}-\d{7,8}"
    r"|\+\d{1,3}[- ]?\(?\d{2,4}\)?[- ]?\d{3,4}[- ]?\d{3,4}"
    r"|\(?\d{3}\)?[- .]\d{3}[- .]\d{4}"
    r")(?![\d.])"
)
_WECHAT = re.compile(
    r"(?:微信|威信|薇信|v信|vx|wx|weixin|wechat|加v|\+v)(?:号|id)?\s*[:：]?\s*"
    r"(?:[a-z][-_a-z0-9]{5,19}|\d{6,11})(?![-_a-z0-9])",
    re.IGNORECASE,
)
_QQ = re.compile(r"(?:qq|扣扣|企鹅)(?:号|群)?\s*[:：]?\s*[1-9]\d{4,10}(?!\d)", re.IGNORECASE)
# Every phone number, WeChat id and QQ number has five digits in a row or a contact word.
_CONTACT_DIGITS = re.compile(r"\d(?:\d{4}|[- ]\d{3})")
_CONTACT_WORDS = ("微信", "威信", "薇信", "v信", "vx", "wx", "weixin", "wechat", "+v", "加v")
# Solicitation that is never part of a review of the thing reviewed.
_PROMOTION_WORDS = (
    *("兼职招聘", "招兼职", "兼职日结", "刷单", "代购", "贷款", "加群", "日赚", "日结", "招代理"),
    *("免费领取", "点击链接", "博彩", "彩票", "网赌", "work from home", "make money", "earn $"),
    *("click here", "free gift card", "casino", "cryptocurrency", "crypto currency"),
)
_REPEATS = re.compile(rf"(.{{1,4}}?)\1{{{REPEAT_MIN_COPIES - 1},}}", re.DOTALL)
_SPACE = re.compile(r"\s+")
_KEYBOARD_RUN = 4
_KEYBOARD_SEQUENCES = sorted(
    row[start : start + _KEYBOARD_RUN]
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for start in range(len(row) - _KEYBOARD_RUN + 1)
)
_CONSONANT = "[b-df-hj-np-tv-xz]"
# Latin tokens nobody types on purpose: no vowel at all, five consonants in a row, or a run
# of four neighbouring keys of one keyboard row.
_UNPRONOUNCEABLE = re.compile(
    rf"\b(?:{_CONSONANT}{{4,}}|[a-z]*(?:{_CONSONANT}{{5}}|{'|'.join(_KEYBOARD_SEQUENCES)})[a-z]*)\b"
)
_UNPRONOUNCEABLE_HINT = re.compile(rf"{_CONSONANT}{{4}}|{'|'.join(_KEYBOARD_SEQUENCES)}")
_LETTER = re.compile(r"[a-z]")
# ASCII, CJK, full-width and general punctuation and symbols; emoji are not among them.
_SYMBOL = re.compile(r"[!-/:-@\[-`{-~\u2010-\u206f\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]")
_NOT_WORD = re.compile(r"[\W_]+")

# Words that show a text is about a product, service, place or work; broad on purpose,
# because off-topic is flagged only when none of them occurs.
_REVIEW_STEMS = re.compile(
    r"\b(?:good|great|bad|love|hate|like|nice|best|worst|excellent|terribl|awful|horribl|"
    r"poor|perfect|amazing|awesome|recommend|disappoint|happy|satisf|quality|pric|cheap|"
    r"expensiv|worth|value|servic|staff|support|deliver|ship|arriv|order|product|item|"
    r"app|work|broke|fix|return|refund|buy|bought|purchas|use|using|easy|hard|fast|slow|"
    r"room|hotel|food|meal|restaurant|tast|movie|film|stor|book|read|watch|play|game|"
    r"screen|batter|sound|phone|camera|size|fit|featur|version|updat|problem|issue|bug|"
    r"crash|fun|boring|interest|enjoy|wast|well|better|worse|star|review|feel|look|"
    r"charact|act|direct|script|plot|scene|music|song|seller|store|shop|custom|money)",
    re.IGNORECASE,
)
_REVIEW_HAN = re.compile(
    r"[好差棒赞烂坑值贵快慢坏吵旧脏用买卖退换吃住看读玩装书]|满意|失望|推荐|喜欢|质量|服务|价格|"
    r"价钱|客服|物流|快递|发货|收到|包装|产品|东西|商品|宝贝|效果|味道|房间|客房|酒店|前台|电影|"
    r"手机|电脑|本本|屏幕|电池|键盘|系统|配置|散热|设施|环境|位置|交通|早餐|干净|舒服|方便|"
    r"不错|一般|垃圾|问题|售后|体验|感觉|优点|缺点|不足"
)


def _units(text: str, lowered: str) -> int:
    return len(_HAN.findall(text)) + len(_LATIN_WORD.findall(lowered)) + len(_DIGITS.findall(text))


def _contact_flags(text: str, lowered: str) -> list[str]:
    # Each full pattern runs only after a cheap test shows it could match.
    flags = []
    has_link = _URL_HINT.search(text) is not None
    if has_link and _URL.search(text):
        flags.append(AD_URL)
    if "@" in text and _EMAIL.search(text):
        flags.append(AD_EMAIL)
    if _CONTACT_DIGITS.search(text) or any(word in lowered for word in _CONTACT_WORDS):
        without_links = _URL.sub(" ", _EMAIL.sub(" ", text)) if has_link else text
        for code, pattern in ((AD_PHONE, _PHONE), (AD_WECHAT, _WECHAT), (AD_QQ, _QQ)):
            if pattern.search(without_links):
                flags.append(code)
    if any(word in lowered for word in _PROMOTION_WORDS):
        flags.append(AD_PROMOTION)
    return flags


def _is_gibberish(lowered: str, compact: str) -> bool:
    if _UNPRONOUNCEABLE_HINT.search(lowered):
        lowered = _URL.sub(" ", lowered)
        bad_letters = sum(len(word) for word in _UNPRONOUNCEABLE.findall(lowered))
    else:
        bad_letters = 0
    if bad_letters >= GIBBERISH_MIN_LETTERS:
        letters = len(_LETTER.findall(lowered)) + len(_HAN.findall(compact))
        if bad_letters >= GIBBERISH_LETTER_SHARE * letters:
            return True
    if len(compact) < SYMBOL_SOUP_MIN_CHARS:
        return False
    return len(_SYMBOL.findall(compact)) >= SYMBOL_SOUP_SHARE * len(compact)


def _is_repetitive(compact: str) -> bool:
    # Cheap necessary condition: a unit of u characters repeated 4+ times spans 4u or more
    # characters with at most u distinct ones, so repeats covering a share S of the text
    # leave at most (1 - 3S/4) of its length as distinct characters.
    if len(set(compact)) > (1 - 0.75 * REPEAT_SHARE) * len(compact):
        return False
    covered = sum(len(match.group(0)) for match in _REPEATS.finditer(compact))
    return covered >= REPEAT_MIN_CHARS and covered >= REPEAT_SHARE * len(compact)


def _is_off_topic(text: str, units: int, sentiment_score: float | None) -> bool:
    # Without a sentiment score there is no evidence that the text holds no opinion.
    if sentiment_score is None or abs(sentiment_score) >= OFF_TOPIC_MAX_SENTIMENT:
        return False
    if units < OFF_TOPIC_MIN_UNITS:
        return False
    return not (_REVIEW_STEMS.search(text) or _REVIEW_HAN.search(text))


def _rating_mismatch(rating: int | None, sentiment_score: float | None) -> bool:
    if rating is None or sentiment_score is None:
        return False
    return (rating == 5 and sentiment_score <= CLEARLY_NEGATIVE) or (
        rating == 1 and sentiment_score >= CLEARLY_POSITIVE
    )


def flag_text(
    text: str | None,
    *,
    language: str,
    rating: int | None = None,
    sentiment_score: float | None = None,
) -> list[str]:
    """Flags of one item, each a reason code; an empty or missing text gets none of the text
    flags (a rating-only review is not noise), but may still contradict nothing."""
    if not text or not text.strip():
        return []
    lowered = text.lower()
    flags = _contact_flags(text, lowered)
    compact = _SPACE.sub("", text)
    units = _units(text, lowered)
    if _is_gibberish(lowered, compact):
        flags.append(GIBBERISH)
    if _is_repetitive(compact):
        flags.append(REPEATED_CHARACTERS)
    if units < MIN_UNITS:
        flags.append(TOO_SHORT)
    elif language in ("zh", "en") and not flags and _is_off_topic(text, units, sentiment_score):
        flags.append(OFF_TOPIC)
    if _rating_mismatch(rating, sentiment_score):
        flags.append(RATING_TEXT_MISMATCH)
    return flags


# --- near-duplicates -------------------------------------------------------------------


def _shingle_key(text: str | None) -> str:
    """Text as compared for duplicates: NFKC, lower case, letters, digits and Han only."""
    if not text:
        return ""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def _comparable(key: str) -> bool:
    return len(key) + len(_HAN.findall(key)) >= NEAR_DUPLICATE_MIN_LENGTH


def _shingles(key: str) -> set[str]:
    size = HAN_SHINGLE if _HAN.search(key) else LATIN_SHINGLE
    return {key[i : i + size] for i in range(max(1, len(key) - size + 1))}


_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads polynomial shingle hashes over all 64 bits."""
    values = (values ^ (values >> np.uint64(30))) * _MIX_1
    values = (values ^ (values >> np.uint64(27))) * _MIX_2
    return values ^ (values >> np.uint64(31))


def _minhash_coefficients() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(MINHASH_SEED)
    count = MINHASH_BANDS * MINHASH_ROWS
    # Odd multipliers keep multiply-add a permutation of the 64-bit values.
    multipliers = generator.integers(0, 2**63, size=count, dtype=np.uint64) * np.uint64(2)
    offsets = generator.integers(0, 2**63, size=count, dtype=np.uint64)
    return multipliers + np.uint64(1), offsets


def _shingle_hashes(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash of every shingle of every key, concatenated, and each key's first position."""
    lengths = np.fromiter((len(key) for key in keys), dtype=np.int64, count=len(keys))
    sizes = np.fromiter(
        (HAN_SHINGLE if _HAN.search(key) else LATIN_SHINGLE for key in keys),
        dtype=np.int64,
        count=len(keys),
    )
    points = np.frombuffer("".join(keys).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    padded = np.concatenate((points, np.zeros(LATIN_SHINGLE, dtype=np.uint64)))
    owner = np.repeat(np.arange(len(keys)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    offset_in_key = np.arange(len(points)) - starts[owner]
    hashes = np.zeros(len(points), dtype=np.uint64)
    for position in range(LATIN_SHINGLE):
        hashes = hashes * _POLY + padded[position : position + len(points)]
        if position + 1 == HAN_SHINGLE:
            short_hashes = hashes.copy()
    shingle_size = sizes[owner]
    hashes = np.where(shingle_size == HAN_SHINGLE, short_hashes, hashes)
    valid = offset_in_key <= lengths[owner] - shingle_size
    counts = lengths - sizes + 1
    return _mix(hashes[valid]), np.concatenate(([0], np.cumsum(counts)[:-1]))


def _signatures(keys: Sequence[str]) -> np.ndarray:
    """MinHash signature (bands x rows values) per key, all keys at once."""
    hashes, starts = _shingle_hashes(keys)
    multipliers, offsets = _minhash_coefficients()
    signatures = np.empty((len(keys), len(multipliers)), dtype=np.uint64)
    for column, (multiplier, offset) in enumerate(zip(multipliers, offsets, strict=True)):
        permuted = hashes * multiplier + offset  # wraps modulo 2**64 by design
        signatures[:, column] = np.minimum.reduceat(permuted, starts)
    return signatures


def _candidate_pairs(signatures: np.ndarray) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for band in range(MINHASH_BANDS):
        band_hash = np.zeros(len(signatures), dtype=np.uint64)
        for column in range(band * MINHASH_ROWS, (band + 1) * MINHASH_ROWS):
            band_hash = _mix(band_hash * _POLY + signatures[:, column])
        order = np.argsort(band_hash, kind="stable")
        ordered = band_hash[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        ends = np.append(starts[1:], len(order))
        shared = ends - starts > 1
        for start, end in zip(starts[shared].tolist(), ends[shared].tolist(), strict=True):
            members = order[start:end].tolist()
            if len(members) <= LSH_BUCKET_ALL_PAIRS:
                pairs.update(
                    (a, b) for position, a in enumerate(members) for b in members[position + 1 :]
                )
            else:
                pairs.update((members[0], other) for other in members[1:])
    return pairs


def _jaccard(first: set[str], second: set[str]) -> float:
    return len(first & second) / len(first | second)


def _find(parents: list[int], index: int) -> int:
    while parents[index] != index:
        parents[index] = parents[parents[index]]
        index = parents[index]
    return index


def near_duplicate_groups(texts: Sequence[str | None]) -> list[int | None]:
    """Group id per text (texts alike at Jaccard >= NEAR_DUPLICATE_JACCARD share one), or
    None for texts too short to compare."""
    keys = [_shingle_key(text) for text in texts]
    unique_keys = sorted({key for key in keys if _comparable(key)})
    if not unique_keys:
        return [None] * len(keys)
    shingle_sets: dict[int, set[str]] = {}

    def shingles_of(index: int) -> set[str]:
        if index not in shingle_sets:
            shingle_sets[index] = _shingles(unique_keys[index])
        return shingle_sets[index]

    parents = list(range(len(unique_keys)))
    for first, second in _candidate_pairs(_signatures(unique_keys)):
        if _jaccard(shingles_of(first), shingles_of(second)) >= NEAR_DUPLICATE_JACCARD:
            parents[_find(parents, first)] = _find(parents, second)
    position = {key: index for index, key in enumerate(unique_keys)}
    return [_find(parents, position[key]) if key in position else None for key in keys]


def _near_duplicates(items: Sequence[dict]) -> list[bool]:
    groups = near_duplicate_groups([item.get("text") for item in items])
    authors_by_group: dict[int, set] = defaultdict(set)
    for item, group in zip(items, groups, strict=True):
        if group is not None:
            # An unknown author cannot be shown to be the same person as anyone.
            authors_by_group[group].add(item.get("author") or ("unknown", id(item)))
    return [group is not None and len(authors_by_group[group]) > 1 for group in groups]


# --- rating bursts ---------------------------------------------------------------------


def _epoch_hours(value: object) -> float | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() / 3600.0


def _bursts(items: Sequence[dict]) -> list[bool]:
    groups: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for index, item in enumerate(items):
        hours = _epoch_hours(item.get("published_at"))
        if hours is not None and item.get("rating") in EXTREME_RATINGS:
            groups[(item.get("source"), item.get("target_id"), item["rating"])].append(
                (hours, index)
            )
    flagged = [False] * len(items)
    for members in groups.values():
        if len(members) < BURST_MIN_COUNT:
            continue
        members.sort()
        times = np.array([hours for hours, _ in members])
        span = max(times[-1] - times[0], BURST_WINDOW_HOURS)
        expected = len(times) * BURST_WINDOW_HOURS / span
        needed = max(BURST_MIN_COUNT, BURST_RATE_FACTOR * expected)
        ends = np.searchsorted(times, times + BURST_WINDOW_HOURS, side="right")
        counts = ends - np.arange(len(times))
        inside = np.zeros(len(times) + 1, dtype=np.int64)
        for start in np.flatnonzero(counts >= needed):
            inside[start] += 1
            inside[ends[start]] -= 1
        for (_, index), hit in zip(members, np.cumsum(inside[:-1]) > 0, strict=True):
            flagged[index] = flagged[index] or bool(hit)
    return flagged


def flag_batch(items: list[dict]) -> list[list[str]]:
    """Flags per item: flag_text's (items may carry `language` and `sentiment_score`) plus
    near_duplicate and rating_burst, which need the whole batch to be seen."""
    duplicates = _near_duplicates(items)
    bursts = _bursts(items)
    result = []
    for item, duplicate, burst in zip(items, duplicates, bursts, strict=True):
        text = item.get("text")
        flags = flag_text(
            text,
            language=item.get("language") or detect_language(text),
            rating=item.get("rating"),
            sentiment_score=item.get("sentiment_score"),
        )
        if duplicate:
            flags.append(NEAR_DUPLICATE)
        if burst:
            flags.append(RATING_BURST)
        result.append(flags)
    return result
