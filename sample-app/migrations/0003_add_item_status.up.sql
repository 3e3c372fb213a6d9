-- Release 1.1.0: items get a status. Release 1.0.0 keeps working (it ignores the column).
ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'open';
ALTER TABLE items ADD CONSTRAINT items_status_check CHECK (status IN ('open', 'done'));
