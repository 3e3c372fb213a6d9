-- expect: 1
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'items' AND column_name = 'status';
-- expect: 0
SELECT count(*) FROM items WHERE status IS NULL;
