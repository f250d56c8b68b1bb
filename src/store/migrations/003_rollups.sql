-- 003_rollups: daily analytics roll-ups, kept forever, so that raw events can be pruned.

-- Per UTC day, what the dashboard shows about `events`. Days up to the 'stats_rolled_through'
-- setting are here (src/store/stats.rs); later days are read from `events` itself.
CREATE TABLE event_rollups (
    kind        TEXT    NOT NULL,           -- 'total' | 'path' | 'referrer'
    day         TEXT    NOT NULL,           -- UTC 'YYYY-MM-DD'
    source_type TEXT    NOT NULL,           -- as in events; '*' = all sources ('total' rows only)
    domain      TEXT    NOT NULL,           -- as in events; '*' = all domains ('total' rows only)
    value       TEXT    NOT NULL,           -- '' for 'total'; the path without its query string,
                                            -- or the referrer's host; top 100 per day and site
    pageviews   INTEGER NOT NULL,           -- events that day
    visitors    INTEGER NOT NULL,           -- distinct visitor_hash that day (the salt is daily)
    PRIMARY KEY (kind, day, source_type, domain, value)
) WITHOUT ROWID;
