-- grain: one row per event of the config (`events:`): its brand's KPIs over the days before
--   the event and over as many days from the event day on, and the change between them
-- materialized: table
-- unique key: event_name
-- inputs: int_reviews, int_reviews_enriched; variables events (the config's events) and
--   excluded_flags (metrics.excluded_flags)
-- Equal windows: window_days on each side, both shortened alike while the data (the last
-- published day in the warehouse) has not yet reached the end of the window after, so a recent
-- event is judged on the days it has had; an event after the last day of data has
-- window_days_used 0 and no KPIs yet. The event day belongs to the window after. Public reviews
-- of all the brand's sources count, except those with an excluded flag (as in the KPI marts);
-- complaints are the brand's complaint records created in the window. Rebuilt on every run:
-- an event's windows move as data arrives and events are added in the config.
with

events as (
    select
        event.name as event_name,
        event.kind as event_kind,
        event.brand,
        event.date as event_date,
        event.window_days,
    from (
        select
            unnest(
                coalesce(
                    getvariable('events'),
                    []::struct(
                        name varchar, date date, brand varchar, kind varchar, window_days integer
                    )[]
                )
            ) as event
    )
),

data_end as (
    select max(published_day) as last_day from int_reviews
),

windows as (
    select
        events.*,
        data_end.last_day as data_last_day,
        coalesce(
            greatest(least(events.window_days, data_end.last_day - events.event_date + 1), 0), 0
        )::integer as window_days_used,
        window_days_used = events.window_days as complete,
        events.event_date - window_days_used as before_first_day,
        events.event_date + window_days_used - 1 as after_last_day,
    from events
    cross join data_end
),

-- the annotations of the days any event may need (constants of the config, so that the scan
-- skips the other days); an annotation stored without its day is read too, only slower
annotations as (
    select *
    from int_reviews_enriched
    where
        published_day between event_days_first() and event_days_last()
        or published_day is null
),

items as (
    select
        reviews.brand,
        reviews.record_type,
        reviews.published_day,
        reviews.rating,
        -- the text's verdict combined with the stars; the stars alone until enriched
        coalesce(enriched.sentiment, reviews.sentiment) as sentiment,
        -- a flag matches by its kind, the part before a colon ("ad_or_contact:url")
        len(
            list_filter(
                coalesce(enriched.flags, []::varchar []),
                lambda flag: list_contains(
                    getvariable('excluded_flags'), split_part(flag, ':', 1)
                )
            )
        ) > 0 as excluded,
    from int_reviews as reviews
    left join annotations as enriched
        using (source, target_id, review_id)
    where
        reviews.record_type in ('review', 'complaint')
        and reviews.published_day between event_days_first() and event_days_last()
        and reviews.brand in (select windows.brand from windows)
        and reviews.published_day between (select min(windows.before_first_day) from windows)
        and (select max(windows.after_last_day) from windows)
    -- an item two targets of one brand found counts once for that brand
    qualify row_number() over (
        partition by reviews.brand, reviews.source, reviews.review_id
        order by reviews.crawled_at desc, reviews.target_id
    ) = 1
),

items_in_windows as (
    select
        windows.event_name,
        if(items.published_day < windows.event_date, 'before', 'after') as side,
        items.*,
        items.record_type = 'review' and not items.excluded as is_review,
    from windows
    inner join items
        on
            windows.brand = items.brand
            and items.published_day between windows.before_first_day and windows.after_last_day
),

per_side as (
    select
        event_name,
        side,
        count(*) filter (where is_review) as reviews,
        count(rating) filter (where is_review) as rated_reviews,
        avg(rating) filter (where is_review) as avg_rating,
        count(*) filter (where is_review and rating >= 4) as satisfied,
        count(*) filter (where is_review and sentiment = 'positive') as positive,
        count(*) filter (where is_review and sentiment = 'neutral') as neutral,
        count(*) filter (where is_review and sentiment = 'negative') as negative,
        count(*) filter (where record_type = 'complaint') as complaints,
    from items_in_windows
    group by event_name, side
),

kpis as (
    select
        event_name,
        side,
        reviews,
        avg_rating,
        negative / nullif(reviews, 0) as negative_share,
        100 * (positive - negative) / nullif(positive + neutral + negative, 0) as nss,
        100 * satisfied / nullif(rated_reviews, 0) as csat,
        complaints,
    from per_side
),

effects as (
    select
        windows.event_name,
        windows.event_kind,
        windows.brand,
        windows.event_date,
        windows.window_days,
        windows.window_days_used,
        windows.complete,
        windows.before_first_day,
        windows.after_last_day,
        windows.data_last_day,
        -- counts are null, not 0, while there are no days to count in
        if(windows.window_days_used > 0, coalesce(before.reviews, 0), null) as reviews_before,
        if(windows.window_days_used > 0, coalesce(after.reviews, 0), null) as reviews_after,
        reviews_before / nullif(windows.window_days_used, 0) as reviews_per_day_before,
        reviews_after / nullif(windows.window_days_used, 0) as reviews_per_day_after,
        reviews_per_day_after - reviews_per_day_before as reviews_per_day_change,
        before.avg_rating as avg_rating_before,
        after.avg_rating as avg_rating_after,
        avg_rating_after - avg_rating_before as avg_rating_change,
        before.negative_share as negative_share_before,
        after.negative_share as negative_share_after,
        negative_share_after - negative_share_before as negative_share_change,
        before.nss as nss_before,
        after.nss as nss_after,
        nss_after - nss_before as nss_change,
        before.csat as csat_before,
        after.csat as csat_after,
        csat_after - csat_before as csat_change,
        if(windows.window_days_used > 0, coalesce(before.complaints, 0), null)
            as complaints_before,
        if(windows.window_days_used > 0, coalesce(after.complaints, 0), null)
            as complaints_after,
        complaints_after - complaints_before as complaints_change,
        'event_effects.v1' as metric_version,
    from windows
    left join kpis as before
        on windows.event_name = before.event_name and before.side = 'before'
    left join kpis as after
        on windows.event_name = after.event_name and after.side = 'after'
)

select * from effects
