-- grain: one row per period (grain 'day', 'week' or 'month') per brand per source, and per
--   brand over all its sources (source 'all'), per problem type that at least one counted
--   review or mention of the period raises
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, source, problem
-- inputs: int_review_facts, mart_brand_kpis (the items of each period)
-- share_of_items: of all counted items of the period (how common the complaint is);
-- share_of_problems: of all problem mentions of the period (the pie chart; sums to 1).
with

item_problems as (
    select
        published_day,
        brand,
        is_competitor,
        source,
        is_negative,
        unnest(list_distinct(problems)) as problem,
    from int_review_facts
    where
        published_day between getvariable('period_start') and getvariable('period_end')
        and not excluded
        and len(problems) > 0
),

-- counts per day first; weeks and months add the days up
daily as (
    select
        published_day,
        brand,
        is_competitor,
        coalesce(source, 'all') as source,
        problem,
        count(*) as items,
        count(*) filter (where is_negative) as negative_items,
    from item_problems
    group by grouping sets (
        (published_day, brand, is_competitor, source, problem),
        (published_day, brand, is_competitor, problem)
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

per_problem as (
    select
        grain,
        period_start,
        period_end,
        brand,
        is_competitor,
        source,
        problem,
        sum(items)::bigint as items,
        sum(negative_items)::bigint as negative_items,
    from in_periods
    group by grain, period_start, period_end, brand, is_competitor, source, problem
),

with_shares as (
    select
        per_problem.*,
        per_problem.items / (kpis.reviews + kpis.mentions) as share_of_items,
        per_problem.items
        / sum(per_problem.items) over (
            partition by per_problem.grain, per_problem.period_start, per_problem.brand,
            per_problem.source
        ) as share_of_problems,
        'problem_types.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from per_problem
    inner join mart_brand_kpis as kpis
        using (grain, period_start, brand, source)
)

select * from with_shares
