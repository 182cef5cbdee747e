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
        published_day,
        sentiment,
        -- each term once (its first place); lists are short, so this beats list_distinct's
        -- hashing several times over
        list_filter(terms, lambda term, position: list_position(terms, term) = position)
            as distinct_terms,
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
        published_day,
        sentiment,
        term,
        count(*) as items,
    from (
        select
            * exclude (distinct_terms),
            unnest(distinct_terms) as term,
        from sentiment_items
    ) as item_terms
    -- a brand's own name is in nearly every mention of it and says nothing
    anti join metric_brand_terms as own_name
        using (brand, term)
    group by brand, published_day, sentiment, term
),

-- a day's counts are its own; weeks and months add their days up
period_terms as (
    select
        'day' as grain,
        published_day as period_start,
        brand,
        sentiment,
        term,
        items,
    from daily_terms
    union all
    select
        grains.grain,
        period_start_of(grains.grain, published_day) as period_start,
        brand,
        sentiment,
        term,
        sum(items)::bigint as items,
    from daily_terms
    cross join (values ('week'), ('month')) as grains (grain)
    group by grains.grain, period_start, brand, sentiment, term
),

-- each list's last-place count: only terms counted at least that often can be on the list,
-- and they are few (most terms of a period come up once or twice), so only they are ranked
cutoffs as (
    select
        grain,
        period_start,
        brand,
        sentiment,
        list_last(max(items, getvariable('top_terms'))) as cutoff,
    from period_terms
    group by grain, period_start, brand, sentiment
),

top_terms as (
    select
        period_terms.grain,
        period_terms.period_start,
        period_end_of(period_terms.grain, period_terms.period_start) as period_end,
        period_terms.brand,
        period_terms.sentiment,
        period_terms.term,
        period_terms.items,
        row_number() over (
            partition by
                period_terms.grain,
                period_terms.period_start,
                period_terms.brand,
                period_terms.sentiment
            order by period_terms.items desc, period_terms.term
        ) as rank,
    from period_terms
    inner join cutoffs
        on
            period_terms.grain = cutoffs.grain
            and period_terms.period_start = cutoffs.period_start
            and period_terms.brand = cutoffs.brand
            and period_terms.sentiment = cutoffs.sentiment
            and period_terms.items >= cutoffs.cutoff
    where recomputed(period_terms.period_start, period_end)
    qualify rank <= getvariable('top_terms')
),

with_shares as (
    select
        top_terms.grain,
        top_terms.period_start,
        top_terms.period_end,
        top_terms.brand,
        kpis.is_competitor,
        top_terms.sentiment,
        top_terms.term,
        top_terms.items,
        top_terms.rank,
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
