-- expect: 1
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'items' AND column_name = 'name';
-- expect: 0
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'items' AND column_name = 'title';
