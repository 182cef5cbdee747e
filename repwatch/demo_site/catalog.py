"""The demo site's reviews: deterministic, made of real labelled review texts.

Every day of every app is generated from its own seed (app, country, day), so a day
looks the same whatever `last_day` is, and review ids stay stable across re-crawls.
Only the planted surge depends on `last_day`: its last three days get twice their
normal volume again in negative reviews.
"""

from __future__ import annotations

import hashlib
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
class AppProfile:
    name: str
    language: str
    daily_reviews: tuple[int, int]
    star_weights: dict[int, float]
    weekly_seasonality: bool = False
    surge: bool = False
    undated_share: float = 0.0


APPS: dict[tuple[str, str], AppProfile] = {
    ("us", "1000001"): AppProfile(
        name="Acme Shop",
        language="en",
        daily_reviews=(10, 16),
        star_weights={5: 0.42, 4: 0.26, 3: 0.12, 2: 0.08, 1: 0.12},
        weekly_seasonality=True,
        surge=True,
    ),
    ("cn", "1000001"): AppProfile(
        name="Acme Shop",
        language="zh",
        daily_reviews=(6, 10),
        star_weights={5: 0.40, 4: 0.28, 3: 0.10, 2: 0.10, 1: 0.12},
        surge=True,
    ),
    ("us", "2000002"): AppProfile(
        name="RivalMart",
        language="en",
        daily_reviews=(8, 12),
        star_weights={5: 0.38, 4: 0.27, 3: 0.13, 2: 0.09, 1: 0.13},
        undated_share=1 / 200,
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


def country_number(country: str) -> int:
    """A small number per two-letter country code, part of every review id."""
    first, second = (ord(letter) - ord("a") + 1 for letter in country.lower()[:2])
    return first * 27 + second


def review_id(country: str, app_id: str, day: date, index: int) -> str:
    """Stable numeric id: app, country, day and position within the day."""
    day_number = (day - date(2000, 1, 1)).days
    return str(
        ((int(app_id) * 1000 + country_number(country)) * 100_000 + day_number) * 1000 + index
    )


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


def _make_review(
    rng: random.Random,
    country: str,
    app_id: str,
    profile: AppProfile,
    day: date,
    index: int,
    star_weights: dict[int, float],
) -> dict:
    stars = _weighted_stars(rng, star_weights)
    text = rng.choice(texts_by_stars(profile.language)[stars])
    author, author_id = _author(rng, profile.language)
    moment = datetime.combine(day, time(), UTC) + timedelta(seconds=rng.randrange(86_400))
    vote_count = rng.choice((0, 0, 0, 0, 1, 2, 5))
    return {
        "review_id": review_id(country, app_id, day, index),
        "country": country,
        "app_id": app_id,
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
        # The feed leaves `updated` out for these, as Apple's feed sometimes did.
        "published_at": None if rng.random() < profile.undated_share else moment,
        "surge": star_weights is NEGATIVE_STARS,
    }


def _day_reviews(country: str, app_id: str, profile: AppProfile, day: date, surge: bool) -> list:
    rng = random.Random(f"{country}/{app_id}/{day.isoformat()}")
    normal = _daily_volume(rng, profile, day)
    reviews = [
        _make_review(rng, country, app_id, profile, day, index, profile.star_weights)
        for index in range(normal)
    ]
    if surge:
        surge_rng = random.Random(f"{country}/{app_id}/{day.isoformat()}/surge")
        reviews += [
            _make_review(surge_rng, country, app_id, profile, day, index, NEGATIVE_STARS)
            for index in range(normal, normal * (1 + SURGE_EXTRA_VOLUME))
        ]
    return reviews


@lru_cache(maxsize=32)
def _reviews(country: str, app_id: str, last_day: date) -> tuple[dict, ...]:
    profile = APPS.get((country, app_id))
    if profile is None:
        return ()
    reviews = []
    for days_back in range(HISTORY_DAYS):
        day = last_day - timedelta(days=days_back)
        surge = profile.surge and days_back < SURGE_DAYS
        reviews += _day_reviews(country, app_id, profile, day, surge)
    reviews.sort(key=lambda review: (review["written_at"], int(review["review_id"])), reverse=True)
    return tuple(reviews)


def reviews_for(country: str, app_id: str, last_day: date) -> list[dict]:
    """Every review the site serves for one app in one store, newest first.

    `written_at` orders the feed; `published_at` is what the feed shows (None: no date).
    """
    return [dict(review) for review in _reviews(country.lower(), app_id, last_day)]


def app_name(country: str, app_id: str) -> str | None:
    profile = APPS.get((country.lower(), app_id))
    return profile.name if profile else None
