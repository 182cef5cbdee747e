-- grain: one row per brand per source per day (day in the configured report time zone)
-- materialized: period(day)
-- unique key: day, brand, source
-- inputs: mart_brand_kpis (its day rows per source)
-- The daily report's figures: a projection of mart_brand_kpis, kept so that the report and
-- older queries read the same columns as before.
with

daily as (
    select
        period_start as day,
        brand,
        is_competitor,
        source,
        reviews,
        mentions,
        rated_reviews,
        avg_rating,
        csat,
        rating_1,
        rating_2,
        rating_3,
        rating_4,
        rating_5,
        positive,
        neutral,
        negative,
        negative_share,
        metric_version,
    from mart_brand_kpis
    where
        grain = 'day'
        and source <> 'all'
        and period_start between getvariable('period_start') and getvariable('period_end')
)

select * from daily
