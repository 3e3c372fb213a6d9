-- Warungin POS before v1.1.0: stores, users and the stores each supervisor works in, sessions,
-- shifts. Store 1 is the head store; store 2 is another branch's.
CREATE TABLE stores (
  id integer PRIMARY KEY,
  name text NOT NULL
);
INSERT INTO stores (id, name) VALUES (1, 'Warung Pusat'), (2, 'Warung Cabang Selatan');
CREATE TABLE users (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('SUPER_ADMIN', 'SUPERVISOR', 'CASHIER'))
);
CREATE TABLE user_stores (
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  store_id integer NOT NULL REFERENCES stores (id),
  PRIMARY KEY (user_id, store_id)
);
CREATE TABLE sessions (
  token text PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE TABLE shifts (
  id serial PRIMARY KEY,
  store_id integer NOT NULL REFERENCES stores (id),
  opened_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz
);
