-- Analytics schema for the ANALYTICS_DB D1 database. The worker also creates it
-- itself on first use (every statement is idempotent); this file is for
-- `wrangler d1 migrations apply ANALYTICS_DB --remote`.

-- One row per event; `id` makes a repeated delivery of the same event count once.
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  request_id TEXT,
  country_code TEXT,
  error_code INTEGER,
  verified_via TEXT,
  seconds_to_verify INTEGER,
  pricing_category TEXT,
  data TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS events_by_time ON events (at_ms, type);

CREATE INDEX IF NOT EXISTS events_by_request ON events (request_id, type);

-- Events whose callback was never accepted, as the dead-letter queue hands them back.
CREATE TABLE IF NOT EXISTS dead_letters (
  message_id TEXT PRIMARY KEY,
  event_id TEXT,
  type TEXT,
  dead_at_ms INTEGER NOT NULL,
  body TEXT NOT NULL
);
