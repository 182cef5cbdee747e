-- grain: one row per valid record of the batch being loaded (as landed, typed)
-- materialized: table
-- inputs: batch_valid (the records the quality gate passed), batch_meta (batch id)
with

source_rows as (
    select * from batch_valid
),

typed as (
    select
        source::varchar as source,
        target_id::varchar as target_id,
        review_id::varchar as review_id,
        coalesce(kind, 'review')::varchar as kind,
        author::varchar as author,
        try_cast(rating as integer) as rating,
        title::varchar as title,
        text::varchar as text,
        language::varchar as language,
        try_cast(published_at as timestamptz) as published_at,
        date_precision::varchar as date_precision,
        reply_text::varchar as reply_text,
        try_cast(reply_at as timestamptz) as reply_at,
        url::varchar as url,
        coalesce(try_cast(likes as integer), 0) as likes,
        extra::json as extra,
        try_cast(crawled_at as timestamptz) as crawled_at,
        raw::json as raw,
        file::varchar as landing_file,
        line::integer as landing_line,
        (select batch_id from batch_meta) as batch_id,
    from source_rows
)

select * from typed
