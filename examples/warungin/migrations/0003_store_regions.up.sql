-- v1.1.1: stores get the region the reports group by.
ALTER TABLE stores ADD COLUMN region text NOT NULL DEFAULT 'Jawa';
