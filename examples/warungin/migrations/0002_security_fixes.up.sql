-- v1.1.0's security fixes: a SUPER_ADMIN's session counts only once the second factor is given.
ALTER TABLE sessions ADD COLUMN verified boolean NOT NULL DEFAULT true;
ALTER TABLE users ADD COLUMN two_factor_enabled boolean NOT NULL DEFAULT false;
UPDATE users SET two_factor_enabled = true WHERE role = 'SUPER_ADMIN';
