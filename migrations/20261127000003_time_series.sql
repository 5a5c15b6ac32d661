-- Time series: TimescaleDB hypertables where the extension is available,
-- plain tables with BRIN indexes where it is not. The rollup views use
-- date_bin in both cases, so every query reads the same names either way.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('trend_observations', 'observed_at',
                                  chunk_time_interval => interval '7 days', migrate_data => true);
        PERFORM create_hypertable('activity', 'occurred_at',
                                  chunk_time_interval => interval '7 days', migrate_data => true);
    ELSE
        CREATE INDEX trend_observations_brin ON trend_observations USING brin (observed_at);
        CREATE INDEX activity_brin ON activity USING brin (occurred_at);
    END IF;
END
$$;

-- Daily interest per trend: mean and peak score, observation count, sources.
CREATE VIEW trend_interest_daily AS
SELECT tenant,
       trend_id,
       date_bin(interval '1 day', observed_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
       avg(score)             AS mean_score,
       max(score)             AS peak_score,
       count(*)               AS observations,
       count(DISTINCT source) AS sources
FROM trend_observations
GROUP BY tenant, trend_id, bucket;
