-- Momentum: mean interest over the 7 (30) days up to a trend's latest
-- observation against the 7 (30) days before. Relative to the trend's own
-- last observation, not the clock, so replayed or imported history reads
-- the same as live data. Over the tables, not over other views, so a
-- rebuild can drop and recreate it around its table swap.
CREATE VIEW trend_momentum AS
SELECT o.tenant,
       o.trend_id,
       avg(o.score) FILTER (WHERE o.observed_at > t.last_seen - interval '7 days')  AS mean_7d,
       avg(o.score) FILTER (WHERE o.observed_at <= t.last_seen - interval '7 days'
                              AND o.observed_at > t.last_seen - interval '14 days') AS mean_prev_7d,
       avg(o.score) FILTER (WHERE o.observed_at > t.last_seen - interval '30 days') AS mean_30d,
       avg(o.score) FILTER (WHERE o.observed_at <= t.last_seen - interval '30 days'
                              AND o.observed_at > t.last_seen - interval '60 days') AS mean_prev_30d
FROM trend_observations o
JOIN trends t ON t.tenant = o.tenant AND t.trend_id = o.trend_id
GROUP BY o.tenant, o.trend_id;

-- Seasonality: mean interest per calendar month over all years observed.
-- (date_trunc, not date_bin: date_bin refuses months.)
CREATE VIEW trend_seasonality AS
SELECT tenant,
       trend_id,
       extract(month FROM observed_at)::integer          AS month,
       avg(score)                                        AS mean_score,
       count(*)                                          AS observations,
       count(DISTINCT date_trunc('year', observed_at))   AS years,
       min(observed_at)                                  AS first_seen,
       max(observed_at)                                  AS last_seen
FROM trend_observations
GROUP BY tenant, trend_id, month;
