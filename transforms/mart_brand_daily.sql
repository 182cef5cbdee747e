-- grain: one row per brand per source per day (day in the configured report time zone)
-- materialized: period(day)
-- inputs: int_reviews, int_reviews_enriched; public reviews and mentions with a known date and a configured brand
-- (complaint and survey records from file drops have marts of their own)
with

items as (
    select
        reviews.* replace (
            -- the text's verdict combined with the stars; the stars alone until enriched
            coalesce(enriched.sentiment, reviews.sentiment) as sentiment
        ),
    from int_reviews as reviews
    left join int_reviews_enriched as enriched
        using (source, target_id, review_id)
    where
        published_day between getvariable('period_start') and getvariable('period_end')
        and brand is not null
        and record_type in ('review', 'mention')
    -- an item two targets of one brand found counts once for that brand
    qualify row_number() over (
        partition by brand, source, review_id order by crawled_at desc, target_id
    ) = 1
),

reviews as (
    select * from items where record_type = 'review'
),

mentions as (
    select
        published_day,
        brand,
        source,
        bool_or(is_competitor) as is_competitor,
        count(*) as mentions,
    from items
    where record_type = 'mention'
    group by all
),

daily as (
    select
        published_day as day,
        brand,
        bool_or(is_competitor) as is_competitor,
        source,
        count(*) as reviews,
        count(rating) as rated_reviews,
        avg(rating) as avg_rating,
        100.0 * count(*) filter (where rating >= 4) / nullif(count(rating), 0) as csat,
        count(*) filter (where rating = 1) as rating_1,
        count(*) filter (where rating = 2) as rating_2,
        count(*) filter (where rating = 3) as rating_3,
        count(*) filter (where rating = 4) as rating_4,
        count(*) filter (where rating = 5) as rating_5,
        count(*) filter (where sentiment = 'positive') as positive,
        count(*) filter (where sentiment = 'neutral') as neutral,
        count(*) filter (where sentiment = 'negative') as negative,
        count(*) filter (where sentiment = 'negative') / nullif(count(*), 0) as negative_share,
    from reviews
    group by published_day, brand, source
),

with_mentions as (
    select
        coalesce(daily.day, mentions.published_day) as day,
        coalesce(daily.brand, mentions.brand) as brand,
        coalesce(daily.is_competitor, mentions.is_competitor) as is_competitor,
        coalesce(daily.source, mentions.source) as source,
        coalesce(daily.reviews, 0) as reviews,
        coalesce(mentions.mentions, 0) as mentions,
        coalesce(daily.rated_reviews, 0) as rated_reviews,
        daily.avg_rating,
        daily.csat,
        coalesce(daily.rating_1, 0) as rating_1,
        coalesce(daily.rating_2, 0) as rating_2,
        coalesce(daily.rating_3, 0) as rating_3,
        coalesce(daily.rating_4, 0) as rating_4,
        coalesce(daily.rating_5, 0) as rating_5,
        coalesce(daily.positive, 0) as positive,
        coalesce(daily.neutral, 0) as neutral,
        coalesce(daily.negative, 0) as negative,
        daily.negative_share,
        'brand_daily.v3' as metric_version,
    from daily
    full outer join mentions
        on daily.day = mentions.published_day
        and daily.brand = mentions.brand
        and daily.source = mentions.source
)

select * from with_mentions
