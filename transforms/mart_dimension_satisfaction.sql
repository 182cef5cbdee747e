-- grain: one row per period (grain 'day', 'week' or 'month') per brand per source, and per
--   brand over all its sources (source 'all'), per configured satisfaction dimension that a
--   counted review or mention of the period speaks about
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, source, dimension
-- inputs: int_review_facts, metric_dimension_weights (metrics.satisfaction_weights)
-- A dimension sentiment s in [-1, 1] (enrichment: per-dimension clause sentiment) is read on
-- the 5-point scale as 3 + 2s; satisfaction is the ACSI normalisation (mean - 1) / 4 * 100.
with

items_with_dimensions as (
    select
        brand,
        is_competitor,
        source,
        published_day,
        dimensions::map(varchar, double) as dimension_sentiments,
    from int_review_facts
    where
        published_day between getvariable('period_start') and getvariable('period_end')
        and not excluded
        and dimensions::varchar <> '{}'
),

dimension_scores as (
    select
        items.brand,
        items.is_competitor,
        items.source,
        items.published_day,
        weights.dimension,
        weights.weight,
        -- a decimal, so that sums do not depend on the order threads add them in
        (3 + 2 * items.dimension_sentiments[weights.dimension])::decimal(18, 6) as score_5pt,
    from items_with_dimensions as items
    inner join metric_dimension_weights as weights
        on map_contains(items.dimension_sentiments, weights.dimension)
),

-- sums per day first; weeks and months add the days up
daily as (
    select
        published_day,
        brand,
        is_competitor,
        coalesce(source, 'all') as source,
        dimension,
        any_value(weight) as weight,
        count(*) as items,
        sum(score_5pt) as score_sum,
    from dimension_scores
    group by grouping sets (
        (published_day, brand, is_competitor, source, dimension),
        (published_day, brand, is_competitor, dimension)
    )
),

in_periods as (
    select
        grains.grain,
        period_start_of(grains.grain, daily.published_day) as period_start,
        period_end_of(grains.grain, period_start) as period_end,
        daily.*,
    from daily
    cross join (values ('day'), ('week'), ('month')) as grains (grain)
    where recomputed(period_start, period_end)
),

per_dimension as (
    select
        grain,
        period_start,
        period_end,
        brand,
        is_competitor,
        source,
        dimension,
        any_value(weight) as weight,
        sum(items)::bigint as items,
        (sum(score_sum) / sum(items))::double as score_5pt,
        ((sum(score_sum) / sum(items) - 1) / 4 * 100)::double as satisfaction,
        'dimension_satisfaction.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from in_periods
    group by grain, period_start, period_end, brand, is_competitor, source, dimension
)

select * from per_dimension
