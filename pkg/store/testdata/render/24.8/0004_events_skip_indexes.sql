ALTER TABLE events ADD INDEX IF NOT EXISTS user_bloom user TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events ADD INDEX IF NOT EXISTS host_bloom host TYPE bloom_filter(0.01) GRANULARITY 4;

