-- expect: 5
SELECT COUNT(*) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('users', 'sessions', 'clients', 'orders', 'inventory_batches');
