-- The column is gone again.
-- expect: 0
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'stores' AND column_name = 'region';
