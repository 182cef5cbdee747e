-- grain: one row per period (grain 'day', 'week' or 'month') per brand per source, and per
--   brand over all its sources (source 'all'), per headline metric; every period from the
--   first one the brand has on that source up to the newest day with data, quiet periods
--   included (counts 0, rates null)
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, source, metric
-- inputs: mart_brand_kpis (the periods just recomputed, and those before them as stored),
--   int_reviews (the newest day with data); variables of metrics.baselines
-- What alerts compare a figure with: the previous period (change and relative change), and
-- for daily figures the trailing mean and standard deviation over the days before, and over
-- the same weekday of the weeks before. A baseline needs metrics.baselines.min_* periods with a
-- value, else it is null; quiet days count as 0 for counts and have no value for rates.
with

bounds as (
    select
        -- far enough back for the previous month and for the longest baseline window
        least(
            date_trunc('month', getvariable('period_start'))::date - interval 1 month,
            getvariable('period_start') - greatest(
                getvariable('baseline_trailing_days'),
                7 * getvariable('baseline_same_weekday_weeks')
            )
        )::date as history_start,
        least(
            getvariable('period_end'),
            (select max(published_day) from int_reviews)
        ) as newest_day,
),

series as (
    select
        grain,
        brand,
        source,
        bool_or(is_competitor) as is_competitor,
        min(period_start) as first_period,
    from mart_brand_kpis
    group by grain, brand, source
),

calendar as (
    select
        series.grain,
        series.brand,
        series.is_competitor,
        series.source,
        unnest(
            range(
                greatest(
                    series.first_period, period_start_of(series.grain, bounds.history_start)
                )::timestamp,
                (period_start_of(series.grain, bounds.newest_day) + 1)::timestamp,
                case series.grain
                    when 'day' then interval 1 day
                    when 'week' then interval 7 day
                    when 'month' then interval 1 month
                end
            )
        )::date as period_start,
    from series
    cross join bounds
    -- brands and sources no longer watched get no more quiet periods
    where exists (
        select 1
        from dim_targets as targets
        where
            targets.brand = series.brand
            and (series.source = 'all' or targets.source = series.source)
    )
),

metric_values as (
    select
        calendar.grain,
        calendar.period_start,
        period_end_of(calendar.grain, calendar.period_start) as period_end,
        calendar.brand,
        calendar.is_competitor,
        calendar.source,
        unnest(
            [
                {'metric': 'reviews', 'value': coalesce(kpis.reviews, 0)::double},
                {'metric': 'mentions', 'value': coalesce(kpis.mentions, 0)::double},
                {'metric': 'negative', 'value': coalesce(kpis.negative, 0)::double},
                {'metric': 'negative_share', 'value': kpis.negative_share},
                {'metric': 'avg_rating', 'value': kpis.avg_rating},
                {'metric': 'bayesian_rating', 'value': kpis.bayesian_rating},
                {'metric': 'csat', 'value': kpis.csat},
                {'metric': 'nss', 'value': kpis.nss},
                {'metric': 'response_rate', 'value': kpis.response_rate},
                {'metric': 'sla_compliance', 'value': kpis.sla_compliance},
                {'metric': 'satisfaction_index', 'value': kpis.satisfaction_index},
                {'metric': 'share_of_voice', 'value': kpis.share_of_voice},
                {'metric': 'reputation_score', 'value': kpis.reputation_score},
            ],
            recursive := true
        ),
    from calendar
    left join mart_brand_kpis as kpis
        using (grain, period_start, brand, source)
),

compared as (
    select
        *,
        lag(value) over series_window as previous_value,
        value - previous_value as change,
        change / abs(nullif(previous_value, 0)) as relative_change,
        avg(value) over trailing_window as trailing_mean_any,
        stddev_samp(value) over trailing_window as trailing_stddev_any,
        count(value) over trailing_window as trailing_periods,
        avg(value) over weekday_window as same_weekday_mean_any,
        stddev_samp(value) over weekday_window as same_weekday_stddev_any,
        count(value) over weekday_window as same_weekday_periods,
    from metric_values
    window
        series_window as (partition by grain, brand, source, metric order by period_start),
        trailing_window as (
            partition by grain, brand, source, metric
            order by period_start
            rows between getvariable('baseline_trailing_days') preceding and 1 preceding
        ),
        weekday_window as (
            partition by grain, brand, source, metric, isodow(period_start)
            order by period_start
            rows between getvariable('baseline_same_weekday_weeks') preceding and 1 preceding
        )
),

baselines as (
    select
        grain,
        period_start,
        period_end,
        brand,
        is_competitor,
        source,
        metric,
        value,
        previous_value,
        change,
        relative_change,
        -- baselines are of daily figures, with enough history
        if(
            grain = 'day' and trailing_periods >= getvariable('baseline_min_trailing_days'),
            trailing_mean_any,
            null
        ) as trailing_mean,
        if(
            grain = 'day' and trailing_periods >= getvariable('baseline_min_trailing_days'),
            trailing_stddev_any,
            null
        ) as trailing_stddev,
        if(grain = 'day', trailing_periods, null) as trailing_periods,
        if(
            grain = 'day'
            and same_weekday_periods >= getvariable('baseline_min_same_weekday_weeks'),
            same_weekday_mean_any,
            null
        ) as same_weekday_mean,
        if(
            grain = 'day'
            and same_weekday_periods >= getvariable('baseline_min_same_weekday_weeks'),
            same_weekday_stddev_any,
            null
        ) as same_weekday_stddev,
        if(grain = 'day', same_weekday_periods, null) as same_weekday_periods,
        'kpi_baselines.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from compared
    where recomputed(period_start, period_end)
)

select * from baselines
