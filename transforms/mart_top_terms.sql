-- grain: one row per period (grain 'day', 'week' or 'month') per brand (all sources) per
--   sentiment ('positive' or 'negative') per term among the metrics.top_terms most frequent
--   terms of that sentiment's counted reviews and mentions
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, sentiment, term
-- inputs: int_review_facts (terms: repwatch/nlp/terms.py, stored by the enrichment),
--   mart_brand_kpis (the items of each sentiment per period), metric_brand_terms (the words
--   of each brand's name, from config)
-- A term counts once per item however often the item repeats it, so one long rant does not
-- fill the cloud; ties go by term, so the list is stable.
with

sentiment_items as (
    select
        brand,
        is_competitor,
        published_day,
        sentiment,
        terms,
    from int_review_facts
    where
        published_day between getvariable('period_start') and getvariable('period_end')
        and not excluded
        and sentiment in ('positive', 'negative')
),

-- day counts first: a term's item count is additive over days, and far fewer rows go on
daily_terms as (
    select
        brand,
        is_competitor,
        published_day,
        sentiment,
        term,
        count(*) as items,
    from (
        select
            * exclude (terms),
            unnest(list_distinct(terms)) as term,
        from sentiment_items
    ) as item_terms
    -- a brand's own name is in nearly every mention of it and says nothing
    anti join metric_brand_terms as own_name
        using (brand, term)
    group by all
),

period_terms as (
    select
        grains.grain,
        period_start_of(grains.grain, daily_terms.published_day) as period_start,
        period_end_of(grains.grain, period_start) as period_end,
        daily_terms.brand,
        daily_terms.is_competitor,
        daily_terms.sentiment,
        daily_terms.term,
        sum(daily_terms.items)::bigint as items,
    from daily_terms
    cross join (values ('day'), ('week'), ('month')) as grains (grain)
    where recomputed(period_start, period_end)
    group by all
),

top_terms as (
    select
        period_terms.*,
        row_number() over (
            partition by grain, period_start, brand, sentiment order by items desc, term
        ) as rank,
    from period_terms
    qualify rank <= getvariable('top_terms')
),

with_shares as (
    select
        top_terms.*,
        top_terms.items / if(
            top_terms.sentiment = 'positive',
            kpis.positive + kpis.mention_positive,
            kpis.negative + kpis.mention_negative
        ) as share_of_items,
        'top_terms.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from top_terms
    inner join mart_brand_kpis as kpis
        on
            top_terms.grain = kpis.grain
            and top_terms.period_start = kpis.period_start
            and top_terms.brand = kpis.brand
            and kpis.source = 'all'
)

select * from with_shares
