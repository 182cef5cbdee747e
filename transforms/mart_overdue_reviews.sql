-- grain: one row per day per negative review of an own brand that is overdue at the end of
--   that day (report time zone): published in the metrics.overdue_window_days before it,
--   no public reply within metrics.sla_hours, and none by the day's end either
-- materialized: period(as_of_day)
-- unique key: as_of_day, brand, source, review_id
-- inputs: int_review_facts, int_reviews (title, text, author); variables sla_hours,
--   overdue_window_days
-- Customer service's list: the list of a week or month is that of its last day. Days after the
-- newest day with data get no list (their end has not come yet). Competitors' reviews are not
-- ours to answer, so they are left out; excluded (spam) reviews are no one's to answer.
with

negative_reviews as (
    select
        facts.brand,
        facts.source,
        facts.review_id,
        facts.target_id,
        facts.published_at,
        facts.published_day,
        facts.published_at + getvariable('sla_hours') * interval 1 hour as due_at,
        facts.reply_at,
        facts.rating,
        facts.problems,
        reviews.url,
        reviews.title,
        reviews.text,
        reviews.author,
    from int_review_facts as facts
    inner join int_reviews as reviews
        using (source, target_id, review_id)
    where
        facts.published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
        -- the same days again: lets the scan of int_reviews skip the rest
        and reviews.published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
        and facts.record_type = 'review'
        and facts.is_negative
        and not facts.excluded
        and not facts.is_competitor
),

-- every day whose list a review may be on: the day it was published and the window after
on_days as (
    select
        *,
        unnest(
            range(
                published_day,
                published_day + getvariable('overdue_window_days') + 1,
                interval 1 day
            )
        )::date as as_of_day,
    from negative_reviews
),

overdue as (
    select
        as_of_day,
        timezone(getvariable('report_timezone'), (as_of_day + 1)::timestamp) as as_of_at,
        brand,
        source,
        review_id,
        target_id,
        published_at,
        due_at,
        epoch(as_of_at - due_at) / 3600 as hours_overdue,
        rating,
        problems,
        url,
        title,
        text,
        author,
        'overdue_reviews.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from on_days
    where
        as_of_day between getvariable('period_start') and getvariable('period_end')
        and as_of_day <= (select max(published_day) from int_reviews)
        and due_at <= as_of_at
        and (reply_at is null or reply_at > as_of_at)
)

select * from overdue
