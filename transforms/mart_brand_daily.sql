-- grain: one row per brand per source per day (day in the configured report time zone)
-- materialized: period(day)
-- inputs: int_reviews; only reviews with a known date and a configured brand
with

reviews as (
    select *
    from int_reviews
    where
        published_day between getvariable('period_start') and getvariable('period_end')
        and brand is not null
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
        'brand_daily.v1' as metric_version,
    from reviews
    group by published_day, brand, source
)

select * from daily
