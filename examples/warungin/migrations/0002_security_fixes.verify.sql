-- Every SUPER_ADMIN has the second factor on.
-- expect: 0
SELECT count(*) FROM users WHERE role = 'SUPER_ADMIN' AND NOT two_factor_enabled;
