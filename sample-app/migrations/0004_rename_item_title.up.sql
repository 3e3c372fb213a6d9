-- Release 1.2.0: items.title becomes items.name. Release 1.1.0 cannot run against this schema, so
-- the old containers must be stopped (maintenance on) before it applies.
ALTER TABLE items RENAME COLUMN title TO name;
