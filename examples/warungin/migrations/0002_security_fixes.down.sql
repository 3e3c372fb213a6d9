ALTER TABLE users DROP COLUMN two_factor_enabled;
ALTER TABLE sessions DROP COLUMN verified;
