-- grain: one row per period (grain 'day', 'week' or 'month') per brand per survey channel
--   per topic (category), plus the brand's totals over all channels (channel 'all'), over all
--   topics (category 'all') and over both, for every period with a survey answer of the brand
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, channel, category
-- inputs: int_reviews (survey records of file drops: rating scaled to 1-5 by the drop's
--   mapping, extra.channel, extra.category)
-- Formulas and versions: docs/metrics.md.
with

answers as (
    select brand, published_day, rating, channel, category,
    from drop_records('survey')
),

answers_in_periods as (
    select
        grains.grain,
        period_start_of(grains.grain, answers.published_day) as period_start,
        period_end_of(grains.grain, period_start) as period_end,
        answers.*,
    from answers
    cross join (values ('day'), ('week'), ('month')) as grains (grain)
    where recomputed(period_start, period_end)
),

aggregated as (
    select
        grain,
        period_start,
        period_end,
        brand,
        coalesce(channel, 'all') as channel,
        coalesce(category, 'all') as category,
        count(*) as responses,
        count(rating) as rated_responses,
        avg(rating) as mean_score,
        count(*) filter (where rating >= 4) as satisfied_responses,
    from answers_in_periods
    group by grouping sets (
        (grain, period_start, period_end, brand, channel, category),
        (grain, period_start, period_end, brand, channel),
        (grain, period_start, period_end, brand, category),
        (grain, period_start, period_end, brand)
    )
),

with_rates as (
    select
        *,
        100 * satisfied_responses / nullif(rated_responses, 0) as csat,
        'surveys.v1' as metric_version,
    from aggregated
)

select * from with_rates
