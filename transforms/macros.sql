-- Macros every period model shares, created before the models run.
-- Periods: 'day', 'week' (ISO week, Monday to Sunday) and 'month' (calendar month), of days in
-- the report time zone. A run replaces the periods lying wholly inside its range: the runner
-- widens a requested range to whole weeks and months, so every period it touches is complete.

create or replace temp macro period_start_of(grain, day) as date_trunc(grain, day)::date;

create or replace temp macro period_end_of(grain, period_start) as
    (
        period_start + case grain
            when 'day' then interval 1 day
            when 'week' then interval 7 day
            when 'month' then interval 1 month
        end
    )::date - 1;

create or replace temp macro previous_period_start(grain, period_start) as
    (
        period_start - case grain
            when 'day' then interval 1 day
            when 'week' then interval 7 day
            when 'month' then interval 1 month
        end
    )::date;

create or replace temp macro recomputed(period_start, period_end) as
    period_start >= getvariable('period_start') and period_end <= getvariable('period_end');

-- Wilson score interval's lower bound of a proportion (z = 1.96, 95%); null without trials.
create or replace temp macro wilson_lower_bound(successes, trials) as
    case
        when trials > 0 then (
            successes / trials + 1.96 ^ 2 / (2 * trials)
            - 1.96 * sqrt(
                (successes / trials) * (1 - successes / trials) / trials
                + 1.96 ^ 2 / (4 * trials ^ 2)
            )
        ) / (1 + 1.96 ^ 2 / trials)
    end;

-- The first and last day any configured event's windows may cover (mart_event_effects):
-- constants of the config, so that scans skip the other days; null without events.
create or replace temp macro event_days_first() as
    list_min(list_transform(getvariable('events'), lambda event: event.date - event.window_days));

create or replace temp macro event_days_last() as
    list_max(
        list_transform(getvariable('events'), lambda event: event.date + event.window_days - 1)
    );

-- File-drop records of one record_type (complaint, survey) published in the recomputed days,
-- with their channel and category ('unknown' when blank); a record two drop folders of one
-- brand delivered counts once for that brand.
create or replace temp macro drop_records(kind) as table
    select
        *,
        coalesce(nullif(trim(extra ->> 'channel'), ''), 'unknown') as channel,
        coalesce(nullif(trim(extra ->> 'category'), ''), 'unknown') as category,
    from int_reviews
    where
        record_type = kind
        and brand is not null
        and published_day between getvariable('period_start') and getvariable('period_end')
    qualify row_number() over (
        partition by brand, source, review_id order by crawled_at desc, target_id
    ) = 1;
