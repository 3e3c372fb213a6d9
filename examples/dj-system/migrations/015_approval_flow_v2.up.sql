-- DJ-System as it runs before the runbook: jobs, their types and projects, the V1 approval flow
-- table in its old form, and the V2 approval flow (templates, their steps, which template a
-- project's job type uses, and its approvers). The runbook's migration 016 replaces V2 with an
-- extended V1; this one gives the example a database in the state 016 starts from.
CREATE TABLE users (
  id serial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role text NOT NULL DEFAULT 'requester' CHECK (role IN ('requester', 'approver'))
);
CREATE TABLE sessions (
  token text PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE TABLE projects (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE job_types (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE approval_flows (
  id serial PRIMARY KEY,
  project_id integer NOT NULL REFERENCES projects (id),
  name text NOT NULL
);
CREATE TABLE approval_flow_templates (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE approval_flow_steps (
  id serial PRIMARY KEY,
  template_id integer NOT NULL REFERENCES approval_flow_templates (id) ON DELETE CASCADE,
  step_order integer NOT NULL,
  approver_role text NOT NULL
);
CREATE TABLE project_flow_assignments (
  id serial PRIMARY KEY,
  project_id integer NOT NULL REFERENCES projects (id),
  job_type_id integer NOT NULL REFERENCES job_types (id),
  template_id integer NOT NULL REFERENCES approval_flow_templates (id),
  UNIQUE (project_id, job_type_id)
);
CREATE TABLE project_flow_approvers (
  id serial PRIMARY KEY,
  assignment_id integer NOT NULL REFERENCES project_flow_assignments (id) ON DELETE CASCADE,
  approver_role text NOT NULL
);
CREATE TABLE jobs (
  id serial PRIMARY KEY,
  project_id integer NOT NULL REFERENCES projects (id),
  job_type_id integer NOT NULL REFERENCES job_types (id),
  subject text NOT NULL,
  due_date date,
  status text NOT NULL CHECK (status IN ('pending_approval', 'assigned', 'approved')),
  requester_id integer REFERENCES users (id),
  assignee_id integer REFERENCES users (id),
  approved_by integer REFERENCES users (id),
  approval_comment text,
  created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO projects (id, name) VALUES (1, 'DJ-System demo');
INSERT INTO job_types (id, name)
VALUES (1, 'Artwork'), (2, 'Copywriting'), (3, 'Video edit'), (4, 'Print'), (5, 'Social post');
INSERT INTO approval_flows (project_id, name) VALUES (1, 'Default flow');
INSERT INTO approval_flow_templates (name) VALUES ('Standard review');
INSERT INTO approval_flow_steps (template_id, step_order, approver_role) VALUES (1, 1, 'approver');
INSERT INTO project_flow_assignments (project_id, job_type_id, template_id) SELECT 1, id, 1 FROM job_types;
INSERT INTO project_flow_approvers (assignment_id, approver_role) SELECT id, 'approver' FROM project_flow_assignments;
