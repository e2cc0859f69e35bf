-- Dead letters an operator sent again (POST /v1/admin/dead-letters/{message_id}/resend).
-- The primary key makes the resend idempotent: only the call whose claim is stored
-- puts the event back on the queue.
CREATE TABLE IF NOT EXISTS dead_letter_resends (
  message_id TEXT PRIMARY KEY,
  resent_at_ms INTEGER NOT NULL,
  claim TEXT NOT NULL
);
