-- grain: one row per item per target (source, target_id, review_id), across every load;
--   the newest crawl wins (two targets, e.g. two searches, may find the same item)
-- materialized: upsert(source, target_id, review_id)
-- inputs: stg_reviews, dim_targets
with

batch as (
    select * from stg_reviews
),

newest_per_review as (
    select *
    from batch
    qualify row_number() over (
        partition by source, target_id, review_id
        order by crawled_at desc, landing_file desc, landing_line desc
    ) = 1
),

with_brand as (
    select
        reviews.source,
        reviews.review_id,
        reviews.target_id,
        targets.brand,
        targets.is_competitor,
        reviews.kind,
        -- review | mention, or what a file drop says it holds (complaint, survey)
        coalesce(reviews.extra ->> 'record_type', reviews.kind) as record_type,
        reviews.author,
        reviews.rating,
        reviews.title,
        reviews.text,
        reviews.language,
        reviews.published_at,
        timezone(getvariable('report_timezone'), reviews.published_at)::date as published_day,
        reviews.date_precision,
        reviews.reply_text,
        reviews.reply_at,
        reviews.url,
        reviews.likes,
        reviews.extra,
        -- v1: sentiment from the star rating until text sentiment replaces it
        case
            when reviews.rating between 1 and 2 then 'negative'
            when reviews.rating = 3 then 'neutral'
            when reviews.rating between 4 and 5 then 'positive'
        end as sentiment,
        reviews.crawled_at,
        reviews.batch_id,
        reviews.raw,
    from newest_per_review as reviews
    left join dim_targets as targets
        on reviews.source = targets.source
        and reviews.target_id = targets.target_id
)

select * from with_brand
-- stored in day order, so that scans of a few days skip the row groups of the others
order by published_day
