-- Daily rollups of the events table: what the stats need of a UTC day once its raw
-- events are gone (they are kept for ANALYTICS_RETENTION_DAYS, then folded here by
-- the daily cron trigger and deleted in the same transaction).
--
-- One row per day, country, channel, event type, facet and value; `n` counts
-- distinct requests of that day (events without a request count themselves).
-- Facets: '' the type's own count; 'via' verified_via; 'error_code' Meta's code of
-- a failed delivery ('unknown' when none); 'seconds' seconds from request to
-- verification (a histogram, so percentiles stay exact); 'pricing' Meta's pricing
-- category, counted across all types (type '*'). Absent values are '' (a primary
-- key never holds NULL, or a second fold of the same day could not add to the row).
CREATE TABLE IF NOT EXISTS daily_rollups (
  day_ms INTEGER NOT NULL,
  country_code TEXT NOT NULL,
  channel TEXT NOT NULL,
  type TEXT NOT NULL,
  facet TEXT NOT NULL,
  value TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (day_ms, country_code, channel, type, facet, value)
);

CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (dead_at_ms);
