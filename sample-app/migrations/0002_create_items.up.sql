-- The CRUD resource of the sample service.
CREATE TABLE items (
  id serial PRIMARY KEY,
  title text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
