-- The runbook's 016_ROLLBACK_extend_v1_remove_v2.sql: the V2 tables come back, filled from the V1
-- flows that have a job type, and the V1 columns go.
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

INSERT INTO approval_flow_templates (name) VALUES ('Standard review');
INSERT INTO approval_flow_steps (template_id, step_order, approver_role) VALUES (1, 1, 'approver');
INSERT INTO project_flow_assignments (project_id, job_type_id, template_id)
SELECT project_id, job_type_id, 1 FROM approval_flows WHERE job_type_id IS NOT NULL;
INSERT INTO project_flow_approvers (assignment_id, approver_role)
SELECT id, 'approver' FROM project_flow_assignments;

DELETE FROM approval_flows WHERE job_type_id IS NOT NULL;
DROP INDEX approval_flows_project_job_type;
ALTER TABLE approval_flows
  DROP COLUMN job_type_id,
  DROP COLUMN skip_approval,
  DROP COLUMN auto_assign_type,
  DROP COLUMN auto_assign_user_id;
