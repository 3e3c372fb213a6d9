-- expect: 3
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'items' AND column_name IN ('id', 'title', 'created_at');
