-- grain: one row per period (grain 'day', 'week' or 'month') per brand per source, and per
--   brand over all its sources (source 'all'), for every period in which the brand has a
--   public review or mention on that source (own brands and competitors)
-- materialized: period(period_start, period_end)
-- unique key: grain, period_start, brand, source
-- inputs: int_review_facts, mart_dimension_satisfaction; metric variables (bayesian prior,
--   recency half-life, reputation weights)
-- Formulas and versions: docs/metrics.md. Excluded (spam-flagged) items count in
-- excluded_reviews and excluded_mentions only.
with

facts as (
    select
        *,
        record_type = 'review' and not excluded as is_review,
        record_type = 'mention' and not excluded as is_mention,
    from int_review_facts
    where published_day between getvariable('period_start') and getvariable('period_end')
),

-- additive sums per day first; weeks and months add the days up
daily as (
    select
        published_day,
        brand,
        is_competitor,
        coalesce(source, 'all') as source,
        count(*) filter (where is_review) as reviews,
        count(*) filter (where is_mention) as mentions,
        count(*) filter (where excluded and record_type = 'review') as excluded_reviews,
        count(*) filter (where excluded and record_type = 'mention') as excluded_mentions,
        count(rating) filter (where is_review) as rated_reviews,
        count(*) filter (where is_review and rating = 1) as rating_1,
        count(*) filter (where is_review and rating = 2) as rating_2,
        count(*) filter (where is_review and rating = 3) as rating_3,
        count(*) filter (where is_review and rating = 4) as rating_4,
        count(*) filter (where is_review and rating = 5) as rating_5,
        sum(rating) filter (where is_review) as rating_sum,
        count(*) filter (where is_review and sentiment = 'positive') as positive,
        count(*) filter (where is_review and sentiment = 'neutral') as neutral,
        count(*) filter (where is_review and sentiment = 'negative') as negative,
        -- unrated reviews not enriched yet have no sentiment
        count(*) filter (where is_review and sentiment is null) as sentiment_unknown,
        count(*) filter (where is_mention and sentiment = 'positive') as mention_positive,
        count(*) filter (where is_mention and sentiment = 'neutral') as mention_neutral,
        count(*) filter (where is_mention and sentiment = 'negative') as mention_negative,
        count(reply_at) filter (where is_review) as replied_reviews,
        count(*) filter (where is_review and is_negative and replied_within_sla)
            as negative_replied_within_sla,
        -- quantiles do not add up over days: the times themselves go on to weeks and months
        list(first_response_hours) filter (
            where is_review and first_response_hours is not null
        ) as response_hours,
    from facts
    group by grouping sets (
        (published_day, brand, is_competitor, source),
        (published_day, brand, is_competitor)
    )
),

daily_in_periods as (
    select
        grains.grain,
        period_start_of(grains.grain, daily.published_day) as period_start,
        period_end_of(grains.grain, period_start) as period_end,
        daily.*,
        -- a review's weight in the recency component halves every half-life before period end
        0.5 ^ ((period_end - daily.published_day) / getvariable('recency_half_life_days'))
            as recency_weight,
    from daily
    cross join (values ('day'), ('week'), ('month')) as grains (grain)
    where recomputed(period_start, period_end)
),

aggregated as (
    select
        grain,
        period_start,
        period_end,
        brand,
        is_competitor,
        source,
        sum(reviews)::bigint as reviews,
        sum(mentions)::bigint as mentions,
        sum(excluded_reviews)::bigint as excluded_reviews,
        sum(excluded_mentions)::bigint as excluded_mentions,
        sum(rated_reviews)::bigint as rated_reviews,
        sum(rating_1)::bigint as rating_1,
        sum(rating_2)::bigint as rating_2,
        sum(rating_3)::bigint as rating_3,
        sum(rating_4)::bigint as rating_4,
        sum(rating_5)::bigint as rating_5,
        sum(rating_sum) / nullif(sum(rated_reviews), 0) as avg_rating,
        sum(positive)::bigint as positive,
        sum(neutral)::bigint as neutral,
        sum(negative)::bigint as negative,
        sum(sentiment_unknown)::bigint as sentiment_unknown,
        sum(mention_positive)::bigint as mention_positive,
        sum(mention_neutral)::bigint as mention_neutral,
        sum(mention_negative)::bigint as mention_negative,
        sum(replied_reviews)::bigint as replied_reviews,
        sum(negative_replied_within_sla)::bigint as negative_replied_within_sla,
        list_aggregate(flatten(list(response_hours)), 'quantile_cont', [0.5, 0.9])
            as response_hour_quantiles,
        -- the rating on 0-1, (rating - 1) / 4, averaged with the recency weights (summed as
        -- decimals: a sum of doubles depends on the order threads add them in)
        sum((recency_weight * (rating_sum - rated_reviews) / 4)::decimal(38, 12))
        / nullif(sum((recency_weight * rated_reviews)::decimal(38, 12)), 0)
            as recency_weighted_rating,
    from daily_in_periods
    group by grain, period_start, period_end, brand, is_competitor, source
),

satisfaction as (
    select
        grain,
        period_start,
        brand,
        source,
        sum((weight * (score_5pt - 1))::decimal(38, 12))
        / (4 * sum(weight::decimal(38, 12))) * 100 as satisfaction_index,
    from mart_dimension_satisfaction
    where recomputed(period_start, period_end)
    group by grain, period_start, brand, source
),

with_rates as (
    select
        aggregated.*,
        response_hour_quantiles[1] as first_response_median_hours,
        response_hour_quantiles[2] as first_response_p90_hours,
        100 * (rating_4 + rating_5) / nullif(rated_reviews, 0) as csat,
        case
            when rated_reviews > 0 then (
                rated_reviews * avg_rating
                + getvariable('bayesian_prior_weight') * getvariable('bayesian_prior_mean')
            ) / (rated_reviews + getvariable('bayesian_prior_weight'))
        end as bayesian_rating,
        negative / nullif(reviews, 0) as negative_share,
        100 * (positive - negative) / nullif(positive + neutral + negative, 0) as nss,
        wilson_lower_bound(positive, positive + neutral + negative) as positive_share_lower_bound,
        100 * (mention_positive - mention_negative)
        / nullif(mention_positive + mention_neutral + mention_negative, 0) as mention_nss,
        replied_reviews / nullif(reviews, 0) as response_rate,
        negative_replied_within_sla / nullif(negative, 0) as sla_compliance,
        -- every brand's mentions on the same source (or on all sources) in the same period
        mentions / nullif(sum(mentions) over (partition by grain, period_start, source), 0)
            as share_of_voice,
        satisfaction.satisfaction_index,
    from aggregated
    left join satisfaction
        using (grain, period_start, brand, source)
),

reputation_components as (
    select
        *,
        (bayesian_rating - 1) / 4 as reputation_rating,
        (reviews + mentions)
        / nullif(reviews + mentions + getvariable('bayesian_prior_weight'), 0) as reputation_volume,
        recency_weighted_rating as reputation_recency,
        (
            1 + (positive + mention_positive - negative - mention_negative)
            / nullif(
                positive + neutral + negative + mention_positive + mention_neutral
                + mention_negative,
                0
            )
        ) / 2 as reputation_sentiment,
        response_rate as reputation_response,
    from with_rates
),

with_reputation as (
    select
        *,
        -- the weighted mean of the components at hand, on 0-100
        100 * (
            coalesce(getvariable('reputation_weight_rating') * reputation_rating, 0)
            + coalesce(getvariable('reputation_weight_volume') * reputation_volume, 0)
            + coalesce(getvariable('reputation_weight_recency') * reputation_recency, 0)
            + coalesce(getvariable('reputation_weight_sentiment') * reputation_sentiment, 0)
            + coalesce(getvariable('reputation_weight_response') * reputation_response, 0)
        ) / nullif(
            if(reputation_rating is null, 0, getvariable('reputation_weight_rating'))
            + if(reputation_volume is null, 0, getvariable('reputation_weight_volume'))
            + if(reputation_recency is null, 0, getvariable('reputation_weight_recency'))
            + if(reputation_sentiment is null, 0, getvariable('reputation_weight_sentiment'))
            + if(reputation_response is null, 0, getvariable('reputation_weight_response')),
            0
        ) as reputation_score,
    from reputation_components
),

final as (
    select
        grain,
        period_start,
        period_end,
        brand,
        is_competitor,
        source,
        -- volumes
        reviews,
        mentions,
        excluded_reviews,
        excluded_mentions,
        -- ratings
        rated_reviews,
        rating_1,
        rating_2,
        rating_3,
        rating_4,
        rating_5,
        avg_rating,
        bayesian_rating,
        csat,
        -- sentiment of reviews, and of mentions
        positive,
        neutral,
        negative,
        sentiment_unknown,
        negative_share,
        nss,
        positive_share_lower_bound,
        mention_positive,
        mention_neutral,
        mention_negative,
        mention_nss,
        -- responses
        replied_reviews,
        response_rate,
        first_response_median_hours,
        first_response_p90_hours,
        negative_replied_within_sla,
        sla_compliance,
        -- comparison and composites
        share_of_voice,
        satisfaction_index,
        reputation_rating,
        reputation_volume,
        reputation_recency,
        reputation_sentiment,
        reputation_response,
        reputation_score,
        'brand_kpis.v1' as metric_version,
        getvariable('metric_settings') as metric_settings,
    from with_reputation
)

select * from final
