-- grain: one row per public review or mention per brand (an item two targets of one brand
--   found counts once for that brand), published on a known day, of a configured brand; the
--   days of the run's range and the overdue window before them
-- materialized: temp
-- unique key: brand, source, review_id
-- inputs: int_reviews, int_reviews_enriched; variables sla_hours, excluded_flags,
--   overdue_window_days
-- Ephemeral: built in memory for each run and read by the marts after it (writing a million
-- facts to disk would take longer than computing every mart from them).
-- Complaint and survey records of file drops have marts of their own; items without a day
-- or whose target is no longer configured belong to no period and brand, so no mart counts them.
-- Items with an excluded flag (spam, ads, gibberish: metrics.excluded_flags) stay here with
-- `excluded` set: every KPI leaves them out and the KPI mart counts them apart.
with

in_range as (
    select
        brand,
        is_competitor,
        source,
        review_id,
        target_id,
        record_type,
        published_at,
        published_day,
        rating,
        sentiment,
        reply_at,
        likes,
        crawled_at,
    from int_reviews
    where
        published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
        and brand is not null
        and record_type in ('review', 'mention')
),

-- only a brand with several targets on one source (two searches) can find an item twice
shared_sources as (
    select
        brand,
        source,
    from in_range
    group by brand, source
    having count(distinct target_id) > 1
),

-- the items such targets found both (few: a count finds them faster than ranking all rows)
found_twice as (
    select
        brand,
        source,
        review_id,
    from in_range
    semi join shared_sources
        using (brand, source)
    group by brand, source, review_id
    having count(*) > 1
),

items as (
    select in_range.*
    from in_range
    anti join found_twice
        using (brand, source, review_id)
    union all
    -- an item two targets of one brand found counts once: the newest crawl wins
    select in_range.*
    from in_range
    semi join found_twice
        using (brand, source, review_id)
    qualify row_number() over (
        partition by brand, source, review_id order by crawled_at desc, target_id
    ) = 1
),

-- the annotations of the same days, found by their day so that the scan skips the others
-- (an annotation stored without its day is read too, only slower)
enrichment as (
    select *
    from int_reviews_enriched
    where
        published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
        or published_day is null
),

with_enrichment as (
    select
        items.brand,
        items.is_competitor,
        items.source,
        items.review_id,
        items.target_id,
        items.record_type,
        items.published_at,
        items.published_day,
        items.rating,
        -- the text's verdict combined with the stars; the stars alone until enriched
        coalesce(enrichment.sentiment, items.sentiment) as sentiment,
        enrichment.sentiment_score,
        coalesce(enrichment.problems, []::varchar []) as problems,
        enrichment.dimensions,
        coalesce(enrichment.flags, []::varchar []) as flags,
        coalesce(enrichment.terms, []::varchar []) as terms,
        items.reply_at,
        items.likes,
    from items
    left join enrichment
        using (source, target_id, review_id)
),

facts as (
    select
        *,
        -- a flag matches by its kind, the part before a colon ("ad_or_contact:url")
        list_filter(
            flags,
            lambda flag: list_contains(getvariable('excluded_flags'), split_part(flag, ':', 1))
        ) as exclusion_flags,
        len(exclusion_flags) > 0 as excluded,
        sentiment = 'negative' as is_negative,
        -- a reply stamped before its review (clock skew between sites) counts as immediate;
        -- epoch seconds, as a difference of timestamptz depends on the session's time zone
        case
            when record_type = 'review' and reply_at is not null
                then greatest((epoch(reply_at) - epoch(published_at)) / 3600, 0)
        end as first_response_hours,
        coalesce(first_response_hours <= getvariable('sla_hours'), false) as replied_within_sla,
    from with_enrichment
)

select * from facts
