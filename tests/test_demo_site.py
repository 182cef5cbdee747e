"""The demo review site over real HTTP: Apple's feed shape and quirks, and the planted surge."""

import json
import urllib.error
import urllib.request
import urllib.robotparser
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from repwatch.demo_site import catalog
from repwatch.demo_site.server import serve_in_thread
from repwatch.demo_site.sites.appstore import PAGE_SIZE

LAST_DAY = date(2026, 11, 20)
ACME_STORES = [("us", "1000001"), ("cn", "1000001")]
RIVAL = ("us", "2000002")
DATA_DIR = Path(catalog.__file__).parent / "data"


@pytest.fixture(scope="module")
def site():
    with serve_in_thread(last_day=LAST_DAY) as base_url:
        yield base_url


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        return json.loads(response.read().decode("utf-8"))


def page_url(site: str, country: str, app_id: str, page: int) -> str:
    return f"{site}/{country}/rss/customerreviews/page={page}/id={app_id}/sortby=mostrecent/json"


def entries_of(document: dict) -> list[dict]:
    entries = document["feed"].get("entry", [])
    return [entries] if isinstance(entries, dict) else entries


def all_entries(site: str, country: str, app_id: str) -> list[dict]:
    entries, page = [], 1
    while page_entries := entries_of(get_json(page_url(site, country, app_id, page))):
        entries += page_entries
        page += 1
    return entries


def entry_time(entry: dict) -> datetime | None:
    updated = entry.get("updated")
    return datetime.fromisoformat(updated["label"]).astimezone(UTC) if updated else None


def test_page_one_has_fifty_entries_newest_first_in_apple_shape(site):
    document = get_json(page_url(site, "us", "1000001", 1))
    entries = document["feed"]["entry"]

    assert isinstance(entries, list) and len(entries) == PAGE_SIZE
    times = [entry_time(entry) for entry in entries]
    assert times == sorted(times, reverse=True)
    for entry in entries:
        assert entry["author"]["name"]["label"] and entry["author"]["uri"]["label"]
        assert entry["im:rating"]["label"] in {"1", "2", "3", "4", "5"}
        assert entry["id"]["label"].isdigit()
        assert entry["im:version"]["label"] and entry["title"]["label"]
        assert entry["content"]["label"] and entry["content"]["attributes"] == {"type": "text"}
        assert entry["link"]["attributes"]["href"]
        assert int(entry["im:voteSum"]["label"]) <= int(entry["im:voteCount"]["label"])
        assert entry["im:contentType"]["attributes"]["term"] == "Application"
    feed = document["feed"]
    links = {link["attributes"]["rel"]: link["attributes"]["href"] for link in feed["link"]}
    assert {"self", "first", "last", "previous", "next"} <= set(links)
    assert links["next"] == page_url(site, "us", "1000001", 2)
    assert feed["id"]["label"] == page_url(site, "us", "1000001", 1)
    assert feed["title"]["label"] and feed["author"]["name"]["label"] and feed["updated"]["label"]


def test_feed_times_have_an_offset_like_apples(site):
    entry = get_json(page_url(site, "us", "1000001", 1))["feed"]["entry"][0]
    label = entry["updated"]["label"]

    assert datetime.fromisoformat(label).utcoffset() in {timedelta(hours=-7), timedelta(hours=-8)}
    assert len(label) == len("2026-11-20T07:14:02-07:00")


def test_both_path_orders_serve_the_same_page(site):
    other_order = f"{site}/us/rss/customerreviews/id=1000001/sortBy=mostRecent/page=2/json"

    assert entries_of(get_json(other_order)) == entries_of(
        get_json(page_url(site, "us", "1000001", 2))
    )


def test_a_page_past_the_end_is_a_feed_without_entries(site):
    served = catalog.reviews_for("us", "1000001", LAST_DAY)
    past_the_end = len(served) // PAGE_SIZE + 2

    document = get_json(page_url(site, "us", "1000001", past_the_end))

    assert "entry" not in document["feed"]
    assert document["feed"]["link"] and document["feed"]["id"]["label"]


@pytest.mark.parametrize(("country", "app_id"), [("us", "9999999"), ("de", "1000001")])
def test_an_unknown_app_or_store_is_an_empty_feed(site, country, app_id):
    assert "entry" not in get_json(page_url(site, country, app_id, 1))["feed"]


def test_other_paths_are_not_found(site):
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{site}/us/app/acme-shop/id1000001")
    assert error.value.code == 404


def test_a_last_page_with_one_review_has_entry_as_an_object():
    # Find a day on which Acme's US history leaves exactly one review on the last page.
    last_day = next(
        LAST_DAY + timedelta(days=offset)
        for offset in range(365)
        if len(catalog.reviews_for("us", "1000001", LAST_DAY + timedelta(days=offset))) % PAGE_SIZE
        == 1
    )
    served = catalog.reviews_for("us", "1000001", last_day)
    last_page = len(served) // PAGE_SIZE + 1

    with serve_in_thread(last_day=last_day) as base_url:
        document = get_json(page_url(base_url, "us", "1000001", last_page))

    assert isinstance(document["feed"]["entry"], dict)
    assert document["feed"]["entry"]["id"]["label"] == served[-1]["review_id"]


@pytest.mark.parametrize(("country", "app_id"), [*ACME_STORES, RIVAL])
def test_served_reviews_are_the_catalog_over_ninety_days_up_to_last_day(site, country, app_id):
    entries = all_entries(site, country, app_id)
    served = catalog.reviews_for(country, app_id, LAST_DAY)

    assert [entry["id"]["label"] for entry in entries] == [r["review_id"] for r in served]
    assert len(set(r["review_id"] for r in served)) == len(served)
    assert [int(entry["im:rating"]["label"]) for entry in entries] == [r["rating"] for r in served]
    assert [entry["content"]["label"] for entry in entries] == [r["text"] for r in served]
    times = [moment for entry in entries if (moment := entry_time(entry))]
    first_day = LAST_DAY - timedelta(days=catalog.HISTORY_DAYS - 1)
    assert max(times).date() == LAST_DAY
    assert min(times).date() == first_day
    assert all(first_day <= moment.date() <= LAST_DAY for moment in times)


def daily_counts(entries: list[dict]) -> tuple[Counter, Counter]:
    """Reviews and negative reviews per day (undated reviews count on no day)."""
    volume, negative = Counter(), Counter()
    for entry in entries:
        if "updated" not in entry:
            continue
        day = entry_time(entry).date()
        volume[day] += 1
        negative[day] += int(entry["im:rating"]["label"]) <= 2
    return volume, negative


def window(counter: Counter, days_back_from: int, days_back_to: int) -> int:
    return sum(
        counter[LAST_DAY - timedelta(days=back)] for back in range(days_back_from, days_back_to)
    )


@pytest.mark.parametrize(("country", "app_id"), ACME_STORES)
def test_acme_has_a_surge_of_negative_reviews_in_the_last_three_days(site, country, app_id):
    volume, negative = daily_counts(all_entries(site, country, app_id))

    surge_volume, surge_negative = window(volume, 0, 3), window(negative, 0, 3)
    before_volume, before_negative = window(volume, 3, 33), window(negative, 3, 33)

    assert surge_volume / 3 >= 2.5 * before_volume / 30
    assert surge_negative / surge_volume >= 0.6
    assert before_negative / before_volume <= 0.3
    assert surge_negative / 3 >= 8 * before_negative / 30


def test_the_competitor_has_no_surge_and_a_few_undated_reviews(site):
    entries = all_entries(site, *RIVAL)
    volume, negative = daily_counts(entries)

    assert window(volume, 0, 3) / 3 <= 1.5 * window(volume, 3, 33) / 30
    assert window(negative, 0, 3) / window(volume, 0, 3) <= 0.4
    undated = [entry for entry in entries if "updated" not in entry]
    assert 1 <= len(undated) <= len(entries) / 50
    assert all("updated" in entry for store in ACME_STORES for entry in all_entries(site, *store))


def test_daily_volumes_are_in_the_documented_ranges(site):
    for (country, app_id), profile in catalog.APPS.items():
        volume, _ = daily_counts(all_entries(site, country, app_id))
        low, high = profile.daily_reviews
        normal_days = [LAST_DAY - timedelta(days=back) for back in range(3, catalog.HISTORY_DAYS)]
        # Undated reviews are missing from the counts, hence the slack of one.
        assert all(low - 1 <= volume[day] <= high for day in normal_days), (country, app_id)


def test_acme_us_has_weekly_seasonality():
    by_weekday = Counter()
    for review in catalog.reviews_for("us", "1000001", LAST_DAY):
        if review["written_at"].date() <= LAST_DAY - timedelta(days=catalog.SURGE_DAYS):
            by_weekday[review["written_at"].weekday()] += 1

    assert min(by_weekday[5], by_weekday[6]) > max(by_weekday[1], by_weekday[2])


def test_ratings_agree_with_the_human_labels_of_their_texts():
    english_mean = {}
    for line in (DATA_DIR / "en_amazon_snippets.tsv").read_text(encoding="utf-8").splitlines():
        _, mean_rating, text = line.split("\t", 2)
        english_mean[text] = float(mean_rating)
    chinese = {
        label: set((DATA_DIR / f"zh_{label}.txt").read_text(encoding="utf-8").splitlines())
        for label in ("pos", "neg")
    }

    for country, app_id in [*ACME_STORES, RIVAL]:
        for review in catalog.reviews_for(country, app_id, LAST_DAY):
            text, rating = review["text"], review["rating"]
            if review["language"] == "en":
                mean = english_mean[text]
                assert (rating >= 4 and mean > 0) or (rating <= 2 and mean < 0) or rating == 3
            else:
                label = "pos" if text in chinese["pos"] else "neg"
                assert text in chinese[label]
                assert rating >= 4 if label == "pos" else rating <= 3


def test_the_catalog_is_deterministic_and_ids_survive_a_new_last_day():
    today = catalog.reviews_for("us", "1000001", LAST_DAY)
    assert today == catalog.reviews_for("us", "1000001", LAST_DAY)

    tomorrow = catalog.reviews_for("us", "1000001", LAST_DAY + timedelta(days=1))
    settled_day = LAST_DAY - timedelta(days=10)

    def ids_on(reviews: list[dict]) -> list[str]:
        return [r["review_id"] for r in reviews if r["written_at"].date() == settled_day]

    assert ids_on(today) and ids_on(today) == ids_on(tomorrow)


def test_data_files_are_small_and_carry_source_and_licence():
    names = {path.name for path in DATA_DIR.iterdir()}

    assert {"SOURCE-en.txt", "LICENSE-en.txt", "SOURCE-zh.txt", "LICENSE-zh.md"} <= names
    assert sum(path.stat().st_size for path in DATA_DIR.iterdir()) < 2_000_000


def test_robots_txt_allows_every_agent(site):
    parser = urllib.robotparser.RobotFileParser(f"{site}/robots.txt")
    parser.read()

    assert parser.can_fetch("repwatch", page_url(site, "us", "1000001", 1))
    assert parser.can_fetch("*", f"{site}/anything")
