-- grain: one row per day per brand over all its sources (source 'all') per alert rule and
--   subject (the problem type of problem_surge, else ''), and per brand per source for the
--   headline rules (negative, negative_share), for every day of the range the brand has data
-- materialized: period(day)
-- unique key: day, brand, source, rule, subject
-- inputs: mart_kpi_baselines, mart_brand_kpis, mart_problem_types (stored), int_reviews;
--   temp table alert_rules, variables alert_*, functions alert_count_quantile and
--   alert_score_quantile and macro alert_threshold (repwatch/alerts.py), baseline_* (metrics)
-- Every rule is evaluated on every day, so a day's rows say both what fired and what cleared.
-- A brand's rows of a day are one family of tests sharing a false-alarm budget
-- (alerts.false_alarms_per_90_days): with N series tested, each may fire by chance with
-- probability budget / 90 / N (Bonferroni). Counts are compared with the quantile of a
-- Poisson of their baseline mean, or of a negative binomial of its mean and variance when
-- they vary more than that; shares with the quantile of the day's negative count; scores
-- with the Student-t prediction bound: mean − t·σ·√(1 + 1/n).
-- The value must clear the threshold from the trailing days and the one from the same weekday.
-- Per-source series are kept to the headline rules, and tested only where the source's
-- baseline volume reaches alerts.min_volume: small sources are mostly noise.
-- Formulas and defaults: docs/alerts.md.
with

bounds as (
    select
        getvariable('period_start')
        - greatest(
            getvariable('baseline_trailing_days'), 7 * getvariable('baseline_same_weekday_weeks')
        ) as history_start,
),

-- the headline KPIs come with their baselines from mart_kpi_baselines
kpi_indicators as (
    select
        period_start as day,
        brand,
        is_competitor,
        source,
        case metric
            when 'nss' then 'nss_drop'
            when 'avg_rating' then 'rating_drop'
            else metric
        end as rule,
        '' as subject,
        value,
        trailing_mean,
        trailing_stddev,
        same_weekday_mean,
        same_weekday_stddev,
        null::varchar [] as matched_words,
    from mart_kpi_baselines
    where
        grain = 'day'
        and metric in ('negative', 'negative_share', 'nss', 'avg_rating', 'reviews', 'mentions')
        and (source = 'all' or metric in ('negative', 'negative_share'))
        and period_start between getvariable('period_start') and getvariable('period_end')
),

-- what a source usually carries, to keep small sources out of the per-source tests
volume_baselines as (
    select
        period_start as day,
        brand,
        source,
        sum(trailing_mean) filter (where metric = 'reviews') as reviews_baseline,
        sum(trailing_mean) as items_baseline,
    from mart_kpi_baselines
    where
        grain = 'day'
        and metric in ('reviews', 'mentions')
        and period_start between getvariable('period_start') and getvariable('period_end')
    group by period_start, brand, source
),

-- every day of every brand over all its sources, quiet days included
calendar as (
    select
        period_start as day,
        brand,
        is_competitor,
        source,
    from mart_kpi_baselines
    where
        grain = 'day'
        and metric = 'reviews'
        and source = 'all'
        and period_start
        between (select history_start from bounds) and getvariable('period_end')
),

-- an item two targets of one brand found counts once
items as (
    select
        published_day as day,
        brand,
        source,
        review_id,
        max(coalesce(likes, 0)) as likes,
        lower(concat_ws(' ', any_value(title), any_value(text))) as content,
    from int_reviews
    where
        brand is not null
        and record_type in ('review', 'mention')
        and published_day
        between (select history_start from bounds) and getvariable('period_end')
    group by published_day, brand, source, review_id
),

item_signals as (
    select
        day,
        brand,
        source,
        likes,
        list_filter(
            getvariable('alert_trigger_words'), lambda word: contains(content, lower(word))
        ) as matched_words,
    from items
),

daily_signals as (
    select
        day,
        brand,
        'all' as source,
        sum(likes)::double as reach,
        count(*) filter (where len(matched_words) > 0)::double as trigger_items,
        list_sort(list_distinct(flatten(list(matched_words)))) as matched_words,
    from item_signals
    group by day, brand
),

known_problems as (
    select distinct
        brand,
        source,
        problem,
    from mart_problem_types
    where
        grain = 'day'
        and source = 'all'
        and period_start
        between (select history_start from bounds) and getvariable('period_end')
),

-- reach, trigger words and each problem type's negative items: daily series, quiet days 0
own_series as (
    select
        calendar.day,
        calendar.brand,
        calendar.is_competitor,
        calendar.source,
        rules.rule,
        '' as subject,
        coalesce(
            case rules.rule when 'reach' then signals.reach else signals.trigger_items end, 0
        ) as value,
        if(rules.rule = 'trigger_words', signals.matched_words, null) as matched_words,
    from calendar
    cross join (values ('reach'), ('trigger_words')) as rules (rule)
    left join daily_signals as signals
        using (day, brand, source)
    union all
    select
        calendar.day,
        calendar.brand,
        calendar.is_competitor,
        calendar.source,
        'problem_surge' as rule,
        known_problems.problem as subject,
        coalesce(problems.negative_items, 0)::double as value,
        null::varchar [] as matched_words,
    from calendar
    inner join known_problems
        using (brand, source)
    left join mart_problem_types as problems
        on
            problems.grain = 'day'
            and problems.period_start = calendar.day
            and problems.brand = calendar.brand
            and problems.source = calendar.source
            and problems.problem = known_problems.problem
),

own_baselines as (
    select
        day,
        brand,
        is_competitor,
        source,
        rule,
        subject,
        value,
        if(
            count(value) over trailing_window >= getvariable('baseline_min_trailing_days'),
            avg(value) over trailing_window,
            null
        ) as trailing_mean,
        if(
            count(value) over trailing_window >= getvariable('baseline_min_trailing_days'),
            stddev_samp(value) over trailing_window,
            null
        ) as trailing_stddev,
        if(
            count(value) over weekday_window >= getvariable('baseline_min_same_weekday_weeks'),
            avg(value) over weekday_window,
            null
        ) as same_weekday_mean,
        if(
            count(value) over weekday_window >= getvariable('baseline_min_same_weekday_weeks'),
            stddev_samp(value) over weekday_window,
            null
        ) as same_weekday_stddev,
        matched_words,
    from own_series
    window
        trailing_window as (
            partition by brand, source, rule, subject
            order by day
            rows between getvariable('baseline_trailing_days') preceding and 1 preceding
        ),
        weekday_window as (
            partition by brand, source, rule, subject, isodow(day)
            order by day
            rows between getvariable('baseline_same_weekday_weeks') preceding and 1 preceding
        )
),

indicators as (
    select * from kpi_indicators
    union all by name
    select * from own_baselines
    where day between getvariable('period_start') and getvariable('period_end')
),

with_volume as (
    select
        indicators.*,
        alert_rules.direction,
        alert_rules.kind,
        alert_rules.department,
        alert_rules.statistical,
        alert_rules.fixed_warning,
        alert_rules.fixed_critical,
        alert_rules.combine,
        coalesce(kpis.reviews, 0) as reviews,
        coalesce(kpis.reviews, 0) + coalesce(kpis.mentions, 0) as items,
        -- rates are of the day's reviews; everything else of all its items
        if(alert_rules.of_reviews, reviews, items) as volume,
        indicators.source = 'all'
        or coalesce(
            if(alert_rules.of_reviews, volumes.reviews_baseline, volumes.items_baseline), 0
        )
        >= getvariable('alert_min_volume') as source_large_enough,
    from indicators
    inner join alert_rules
        using (rule)
    left join mart_brand_kpis as kpis
        on
            kpis.grain = 'day'
            and kpis.period_start = indicators.day
            and kpis.brand = indicators.brand
            and kpis.source = indicators.source
    left join volume_baselines as volumes
        on
            volumes.day = indicators.day
            and volumes.brand = indicators.brand
            and volumes.source = indicators.source
    where alert_rules.enabled
),

tested as (
    select
        *,
        statistical
        and source_large_enough
        and (trailing_mean is not null or same_weekday_mean is not null) as is_tested,
    from with_volume
),

-- the brand's tests of the day share its false-alarm budget (Bonferroni)
family as (
    select
        *,
        count(*) filter (where is_tested) over (partition by day, brand) as family_size,
        getvariable('alert_false_alarms_warning')
        / 90
        / greatest(family_size, 1) as tail_warning,
        getvariable('alert_false_alarms_critical')
        / 90
        / greatest(family_size, 1) as tail_critical,
    from tested
),

-- counts as such: the share rule's count is the day's negatives out of its n reviews
count_moments as (
    select
        *,
        case
            when kind = 'count' then 1.0
            when rule = 'negative_share' then greatest(reviews, 1)
        end as count_scale,
        trailing_mean * count_scale as trailing_count_mean,
        (trailing_stddev * count_scale) ^ 2 as trailing_count_variance,
        same_weekday_mean * count_scale as same_weekday_count_mean,
        (same_weekday_stddev * count_scale) ^ 2 as same_weekday_count_variance,
        -- scores: σ no smaller than the sampling noise of the day's reviews
        case
            when rule = 'nss_drop'
                then greatest(
                    trailing_stddev,
                    100 * sqrt(
                        greatest(1 - (trailing_mean / 100) ^ 2, 0) / greatest(reviews, 1)
                    )
                )
            else trailing_stddev
        end as trailing_sigma,
        case
            when rule = 'nss_drop'
                then greatest(
                    same_weekday_stddev,
                    100 * sqrt(
                        greatest(1 - (same_weekday_mean / 100) ^ 2, 0) / greatest(reviews, 1)
                    )
                )
            else same_weekday_stddev
        end as same_weekday_sigma,
    from family
),

-- the smallest value that fires, per baseline and severity; null without that baseline.
-- Counts: one above the count quantile (Poisson, or negative binomial when the baseline
-- varies more than Poisson); scores: the Student-t prediction bound of the window.
baseline_thresholds as (
    select
        *,
        alert_threshold(
            tail_warning, count_scale, trailing_count_mean, trailing_count_variance,
            trailing_mean, trailing_sigma, getvariable('baseline_trailing_days')
        ) as trailing_warning,
        alert_threshold(
            tail_critical, count_scale, trailing_count_mean, trailing_count_variance,
            trailing_mean, trailing_sigma, getvariable('baseline_trailing_days')
        ) as trailing_critical,
        alert_threshold(
            tail_warning, count_scale, same_weekday_count_mean, same_weekday_count_variance,
            same_weekday_mean, same_weekday_sigma, getvariable('baseline_same_weekday_weeks')
        ) as same_weekday_warning,
        alert_threshold(
            tail_critical, count_scale, same_weekday_count_mean, same_weekday_count_variance,
            same_weekday_mean, same_weekday_sigma, getvariable('baseline_same_weekday_weeks')
        ) as same_weekday_critical,
    from count_moments
),

statistical as (
    select
        *,
        -- the stricter of the two baselines; either alone when the other lacks history
        case
            when not is_tested then null
            when direction = 'up' then greatest(trailing_warning, same_weekday_warning)
            else least(trailing_warning, same_weekday_warning)
        end as statistical_warning,
        case
            when not is_tested then null
            when direction = 'up' then greatest(trailing_critical, same_weekday_critical)
            else least(trailing_critical, same_weekday_critical)
        end as statistical_critical,
    from baseline_thresholds
),

thresholds as (
    select
        *,
        -- "either": crossing one is enough, so the nearer one counts; "both": the farther one
        case
            when not statistical then fixed_warning
            when fixed_warning is null then statistical_warning
            when statistical_warning is null then if(source_large_enough, fixed_warning, null)
            when (combine = 'either') = (direction = 'up')
                then least(statistical_warning, fixed_warning)
            else greatest(statistical_warning, fixed_warning)
        end as threshold_warning,
        case
            when not statistical then fixed_critical
            when fixed_critical is null then statistical_critical
            when statistical_critical is null then if(source_large_enough, fixed_critical, null)
            when (combine = 'either') = (direction = 'up')
                then least(statistical_critical, fixed_critical)
            else greatest(statistical_critical, fixed_critical)
        end as any_critical,
        -- a critical threshold nearer than the warning one (a statistical critical under a
        -- fixed warning floor) would make every warning critical
        case
            when any_critical is null then null
            when direction = 'up' then greatest(any_critical, threshold_warning)
            else least(any_critical, threshold_warning)
        end as threshold_critical,
    from statistical
),

evaluated as (
    select
        *,
        case
            when value is null or threshold_warning is null then null
            when direction = 'up' and value >= threshold_critical then 'critical'
            when direction = 'down' and value <= threshold_critical then 'critical'
            when direction = 'up' and value >= threshold_warning then 'warning'
            when direction = 'down' and value <= threshold_warning then 'warning'
        end as crossed,
        volume < getvariable('alert_min_volume') as below_min_volume,
    from thresholds
),

final as (
    select
        day,
        brand,
        is_competitor,
        source,
        rule,
        subject,
        direction,
        department,
        value,
        volume,
        trailing_mean as baseline,
        trailing_sigma as baseline_stddev,
        same_weekday_mean,
        same_weekday_sigma as same_weekday_stddev,
        family_size,
        tail_warning as tail_probability,
        statistical_warning,
        statistical_critical,
        fixed_warning,
        fixed_critical,
        threshold_warning,
        threshold_critical,
        if(below_min_volume, null, crossed) as severity,
        severity is not null as fired,
        case
            when value is null then 'no value'
            when not source_large_enough then 'source below minimum volume'
            when threshold_warning is null then 'not enough history'
            when crossed is not null and below_min_volume then 'below minimum volume'
        end as note,
        matched_words,
        'alerts.v2' as alert_version,
        getvariable('alert_settings') as alert_settings,
    from evaluated
)

select * from final
