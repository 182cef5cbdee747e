"""The demo site's reviews: deterministic, made of real labelled review texts.

Every day of every app is generated from its own seed (app, country, day), so a day
looks the same whatever `last_day` is, and review ids stay stable across re-crawls.
Only the planted surge depends on `last_day`: its last three days get twice their
normal volume again in negative reviews.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
HISTORY_DAYS = 90
SURGE_DAYS = 3
SURGE_EXTRA_VOLUME = 2  # extra negative reviews per normal review on a surge day
NEGATIVE_STARS = {1: 0.65, 2: 0.35}
# Chinese lines with these words are lukewarm rather than clearly positive or negative.
ZH_MILD_WORDS = ("一般", "还行", "还可以", "凑合", "中规中矩", "马马虎虎")
# Weekend shoppers write more reviews; Monday = 0.
WEEKLY_ACTIVITY = (0.3, 0.2, 0.2, 0.35, 0.6, 1.0, 0.9)


@dataclass(frozen=True)
class ReplyPolicy:
    """How the business answers: shares of reviews that get a public reply, and how fast."""

    negative_share: float
    other_share: float
    # (upper bound in hours, weight): most within a day, some late.
    delay_hours: tuple[tuple[float, float], ...] = ((4, 0.35), (24, 0.3), (72, 0.2), (240, 0.15))


@dataclass(frozen=True)
class Profile:
    """What one target of one demo site looks like: volume, ratings, replies, surge."""

    name: str
    language: str
    daily_reviews: tuple[int, int]
    star_weights: dict[int, float]
    weekly_seasonality: bool = False
    surge: bool = False
    undated_share: float = 0.0
    replies: ReplyPolicy | None = None
    id_prefix: int | None = None  # default: derived from site and key


# Kept as the name other modules know it by.
AppProfile = Profile

# One entry per (site, target key) the demo site serves. Other sites add theirs here.
PROFILES: dict[tuple[str, str], Profile] = {
    ("appstore", "us/1000001"): Profile(
        name="Acme Shop",
        language="en",
        daily_reviews=(10, 16),
        star_weights={5: 0.42, 4: 0.26, 3: 0.12, 2: 0.08, 1: 0.12},
        weekly_seasonality=True,
        surge=True,
        id_prefix=1000001 * 1000 + 21 * 27 + 19,
    ),
    ("appstore", "cn/1000001"): Profile(
        name="Acme Shop",
        language="zh",
        daily_reviews=(6, 10),
        star_weights={5: 0.40, 4: 0.28, 3: 0.10, 2: 0.10, 1: 0.12},
        surge=True,
        id_prefix=1000001 * 1000 + 3 * 27 + 14,
    ),
    ("appstore", "us/2000002"): Profile(
        name="RivalMart",
        language="en",
        daily_reviews=(8, 12),
        star_weights={5: 0.38, 4: 0.27, 3: 0.13, 2: 0.09, 1: 0.13},
        undated_share=1 / 200,
        id_prefix=2000002 * 1000 + 21 * 27 + 19,
    ),
}
APPS: dict[tuple[str, str], Profile] = {
    tuple(key.split("/")): profile
    for (site, key), profile in PROFILES.items()
    if site == "appstore"
}

REPLY_TEXTS = {
    "en": (
        "Hi {author}, thank you for taking the time to write this. "
        "We are sorry about your experience; our support team has e-mailed you to put it right.",
        "Thanks for the feedback, {author}. We have passed this to the team concerned "
        "and will follow up with you directly.",
        "We appreciate your review, {author}! Glad to hear it, and thank you for shopping with us.",
    ),
    "zh": (
        "亲爱的{author}，非常抱歉给您带来不好的体验，客服已联系您处理，请留意消息。",
        "感谢{author}的反馈，我们已将问题转交相关部门，会尽快给您答复。",
        "感谢{author}的支持与好评，期待您再次光临！",
    ),
}

_EN_NAME_PARTS = (
    ("happy", "busy", "quiet", "lucky", "sunny", "rainy", "tired", "honest", "picky", "frugal"),
    ("shopper", "mom", "dad", "reader", "gamer", "runner", "chef", "student", "nurse", "buyer"),
)
_ZH_NAME_PARTS = (
    ("小", "老", "阿", "大", "爱吃", "不想", "快乐", "安静"),
    ("王", "李", "张", "陈", "刘", "猫", "鱼", "熊", "豆", "米"),
)
_TITLE_PUNCTUATION = re.compile(r"[,.;:!?，。；：！？、]+")


def english_stars(mean_rating: float) -> int:
    """Mean human rating on -4..+4 as App Store stars."""
    if mean_rating <= -1.5:
        return 1
    if mean_rating <= -0.5:
        return 2
    if mean_rating < 0.5:
        return 3
    if mean_rating < 1.5:
        return 4
    return 5


def chinese_stars(text: str, positive: bool) -> int:
    """pos → 4–5, neg → 1–2, lukewarm wording one step towards the middle."""
    if any(word in text for word in ZH_MILD_WORDS):
        return 4 if positive else 3
    strong = hashlib.sha256(text.encode()).digest()[0] % 5 < 3
    if positive:
        return 5 if strong else 4
    return 1 if strong else 2


@cache
def texts_by_stars(language: str) -> dict[int, tuple[str, ...]]:
    """The real review texts of one language, grouped by the stars their label implies."""
    pools: dict[int, list[str]] = {stars: [] for stars in range(1, 6)}
    if language == "en":
        for line in (DATA_DIR / "en_amazon_snippets.tsv").read_text(encoding="utf-8").splitlines():
            _, mean_rating, text = line.split("\t", 2)
            pools[english_stars(float(mean_rating))].append(text)
    elif language == "zh":
        for label in ("pos", "neg"):
            for text in (DATA_DIR / f"zh_{label}.txt").read_text(encoding="utf-8").splitlines():
                pools[chinese_stars(text, positive=label == "pos")].append(text)
    else:
        raise ValueError(f"no review texts for language {language!r}")
    return {stars: tuple(texts) for stars, texts in pools.items() if texts}


def title_of(text: str, language: str) -> str:
    """A short real phrase: the first words (English) or first clause (Chinese)."""
    if language == "zh":
        clauses = (clause.strip() for clause in _TITLE_PUNCTUATION.split(text))
        return next((clause for clause in clauses if clause), text)[:12]
    title = _TITLE_PUNCTUATION.sub("", " ".join(text.split()[:5])).strip()
    return title[:1].upper() + title[1:]


def id_prefix(site: str, key: str, profile: Profile) -> int:
    if profile.id_prefix is not None:
        return profile.id_prefix
    return int.from_bytes(hashlib.sha256(f"{site}/{key}".encode()).digest()[:4], "big")


def review_id(prefix: int, day: date, index: int) -> str:
    """Stable numeric id: target, day and position within the day."""
    day_number = (day - date(2000, 1, 1)).days
    return str((prefix * 100_000 + day_number) * 1000 + index)


def app_version(day: date) -> str:
    """A release every two weeks, a patch on some weeks in between."""
    weeks = (day - date(2024, 1, 1)).days // 7
    return f"5.{weeks // 2 % 40}.{weeks % 2}"


def _weighted_stars(rng: random.Random, weights: dict[int, float]) -> int:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _author(rng: random.Random, language: str) -> tuple[str, str]:
    first, second = _ZH_NAME_PARTS if language == "zh" else _EN_NAME_PARTS
    number = rng.randrange(10, 10_000)
    name = f"{rng.choice(first)}{rng.choice(second)}{number}"
    return name, str(rng.randrange(100_000_000, 2_000_000_000))


def _daily_volume(rng: random.Random, profile: AppProfile, day: date) -> int:
    low, high = profile.daily_reviews
    if profile.weekly_seasonality:
        share = 0.6 * WEEKLY_ACTIVITY[day.weekday()] + 0.4 * rng.random()
        return low + round((high - low) * share)
    return rng.randint(low, high)


def _reply(rng: random.Random, policy: ReplyPolicy | None, review: dict) -> tuple:
    """(reply text, reply time) or (None, None); late replies stay hidden until they happen."""
    if policy is None or review["published_at"] is None:
        return None, None
    share = policy.negative_share if review["rating"] <= 2 else policy.other_share
    if rng.random() >= share:
        return None, None
    bounds = [upper for upper, _ in policy.delay_hours]
    weights = [weight for _, weight in policy.delay_hours]
    upper = rng.choices(bounds, weights=weights)[0]
    lower = ([0.25, *bounds])[bounds.index(upper)]
    delay = timedelta(hours=rng.uniform(lower, upper))
    texts = REPLY_TEXTS[review["language"]]
    text = texts[2] if review["rating"] >= 4 else rng.choice(texts[:2])
    return text.format(author=review["author"]), review["written_at"] + delay


def _make_review(
    rng: random.Random,
    site: str,
    key: str,
    profile: Profile,
    day: date,
    index: int,
    star_weights: dict[int, float],
) -> dict:
    stars = _weighted_stars(rng, star_weights)
    text = rng.choice(texts_by_stars(profile.language)[stars])
    author, author_id = _author(rng, profile.language)
    moment = datetime.combine(day, time(), UTC) + timedelta(seconds=rng.randrange(86_400))
    vote_count = rng.choice((0, 0, 0, 0, 1, 2, 5))
    review = {
        "review_id": review_id(id_prefix(site, key, profile), day, index),
        "site": site,
        "key": key,
        "app_name": profile.name,
        "author": author,
        "author_id": author_id,
        "rating": stars,
        "title": title_of(text, profile.language),
        "text": text,
        "language": profile.language,
        "version": app_version(day),
        "vote_sum": rng.randint(0, vote_count),
        "vote_count": vote_count,
        "written_at": moment,
        # Left without a date, as real feeds sometimes are.
        "published_at": None if rng.random() < profile.undated_share else moment,
        "surge": star_weights is NEGATIVE_STARS,
    }
    if site == "appstore":
        review["country"], review["app_id"] = key.split("/")
    review["reply_text"], review["reply_at"] = _reply(rng, profile.replies, review)
    return review


def _day_reviews(site: str, key: str, profile: Profile, day: date, surge: bool) -> list:
    seed = f"{key}/{day.isoformat()}" if site == "appstore" else f"{site}/{key}/{day.isoformat()}"
    rng = random.Random(seed)
    normal = _daily_volume(rng, profile, day)
    reviews = [
        _make_review(rng, site, key, profile, day, index, profile.star_weights)
        for index in range(normal)
    ]
    if surge:
        surge_rng = random.Random(f"{seed}/surge")
        reviews += [
            _make_review(surge_rng, site, key, profile, day, index, NEGATIVE_STARS)
            for index in range(normal, normal * (1 + SURGE_EXTRA_VOLUME))
        ]
    return reviews


def profile_of(site: str, key: str) -> Profile | None:
    """A target's profile: from PROFILES here, or from the PROFILES dict of the site's module
    (repwatch.demo_site.sites.<site>), keyed by the target key alone."""
    if (site, key) in PROFILES:
        return PROFILES[(site, key)]
    try:
        module = importlib.import_module(f"repwatch.demo_site.sites.{site}")
    except ModuleNotFoundError:
        return None
    return getattr(module, "PROFILES", {}).get(key)


class FrozenItem(dict):
    """A catalogue item: shared between requests, so it refuses to be changed."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("catalogue items are shared; copy with dict(item) to change one")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse


@lru_cache(maxsize=64)
def _items(site: str, key: str, last_day: date) -> tuple[FrozenItem, ...]:
    profile = profile_of(site, key)
    if profile is None:
        return ()
    reviews = []
    for days_back in range(HISTORY_DAYS):
        day = last_day - timedelta(days=days_back)
        surge = profile.surge and days_back < SURGE_DAYS
        reviews += _day_reviews(site, key, profile, day, surge)
    reviews.sort(key=lambda review: (review["written_at"], int(review["review_id"])), reverse=True)
    end_of_last_day = datetime.combine(last_day + timedelta(days=1), time(), UTC)
    for review in reviews:
        # A reply written after the site's "now" has not happened yet.
        if review["reply_at"] is not None and review["reply_at"] >= end_of_last_day:
            review["reply_text"], review["reply_at"] = None, None
    return tuple(FrozenItem(review) for review in reviews)


def items(site: str, key: str, last_day: date) -> list[FrozenItem]:
    """Every item the site serves for one target, newest first (shared, read-only items).

    `written_at` orders the listing; `published_at` is what the page shows (None: no date);
    `reply_text`/`reply_at` the business's public reply, if any by the end of `last_day`.
    """
    return list(_items(site, key, last_day))


def window(site: str, key: str, last_day: date, start: int, stop: int) -> list[dict]:
    """items(...)[start:stop]: what one page of a listing needs."""
    return list(_items(site, key, last_day)[max(start, 0) : stop])


def count(site: str, key: str, last_day: date) -> int:
    return len(_items(site, key, last_day))


def reviews_for(country: str, app_id: str, last_day: date) -> list[dict]:
    """Every App Store review served for one app in one store, newest first."""
    return items("appstore", f"{country.lower()}/{app_id}", last_day)


def app_name(country: str, app_id: str) -> str | None:
    profile = APPS.get((country.lower(), app_id))
    return profile.name if profile else None
