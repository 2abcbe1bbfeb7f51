-- Data-skipping indexes on events for the lookups the sorting key does not
-- serve: every event of one user, every event on one host. A bloom filter
-- per 4 granules (4 × 8192 rows) lets a query for one user or host skip
-- the granules that cannot hold it.
-- Servers without data-skipping indexes (18.16) skip both statements: the
-- lookups work there too, by scanning. The indexes cover parts written
-- after this migration; `ALTER TABLE events MATERIALIZE INDEX user_bloom`
-- builds them for older parts.
/*+skip_index ALTER TABLE events ADD INDEX IF NOT EXISTS user_bloom user TYPE bloom_filter(0.01) GRANULARITY 4*/;
/*+skip_index ALTER TABLE events ADD INDEX IF NOT EXISTS host_bloom host TYPE bloom_filter(0.01) GRANULARITY 4*/;
