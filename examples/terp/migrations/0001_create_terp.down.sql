DROP TABLE inventory_batches;
DROP TABLE orders;
DROP TABLE clients;
DROP TABLE sessions;
DROP TABLE users;
