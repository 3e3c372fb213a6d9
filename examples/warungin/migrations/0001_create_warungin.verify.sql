-- Both stores are there.
-- expect: 2
SELECT count(*) FROM stores;
