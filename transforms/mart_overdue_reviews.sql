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
        brand,
        source,
        review_id,
        target_id,
        published_at,
        published_day,
        published_at + getvariable('sla_hours') * interval 1 hour as due_at,
        reply_at,
        rating,
        problems,
    from int_review_facts
    where
        published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
        and record_type = 'review'
        and is_negative
        and not excluded
        and not is_competitor
),

-- the days of the range that have ended in the data, and the moment each one ends
as_of_days as (
    select
        day::date as as_of_day,
        timezone(getvariable('report_timezone'), (day::date + 1)::timestamp) as as_of_at,
    from range(
        getvariable('period_start')::timestamp,
        (
            least(getvariable('period_end'), (select max(published_day) from int_reviews)) + 1
        )::timestamp,
        interval 1 day
    ) as days (day)
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
        on_days.*,
        as_of_days.as_of_at,
    from on_days
    inner join as_of_days
        using (as_of_day)
    where
        on_days.due_at <= as_of_days.as_of_at
        and (on_days.reply_at is null or on_days.reply_at > as_of_days.as_of_at)
),

-- the texts of the negative reviews, once each
review_texts as (
    select
        source,
        target_id,
        review_id,
        url,
        title,
        text,
        author,
    from int_reviews
    semi join negative_reviews
        using (source, target_id, review_id)
    -- the reviews' days again: lets the scan of int_reviews skip the rest
    where
        published_day
        between getvariable('period_start') - getvariable('overdue_window_days')
        and getvariable('period_end')
),

with_texts as (
    select
        overdue.as_of_day,
        overdue.as_of_at,
        overdue.brand,
        overdue.source,
        overdue.review_id,
        overdue.target_id,
        overdue.published_at,
        overdue.due_at,
        -- epoch seconds, as a difference of timestamptz depends on the session's time zone
        (epoch(overdue.as_of_at) - epoch(overdue.due_at)) / 3600 as hours_overdue,
        overdue.rating,
        overdue.problems,
        review_texts.url,
        review_texts.title,
        review_texts.text,
        review_texts.author,
        'overdue_reviews.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from overdue
    -- every overdue review has its texts: a left join only keeps the optimizer from joining
    -- the texts before the days have cut the rows down
    left join review_texts
        using (source, target_id, review_id)
)

select * from with_texts
