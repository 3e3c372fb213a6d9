-- The runbook's database/migrations/manual/016_extend_v1_remove_v2_approval_flow.sql: the V1
-- approval flow gains a job type, skip approval and auto assignment; each V2 assignment becomes a
-- V1 flow for its project and job type; the four V2 tables are dropped.
-- rollout:allow=drop-table
ALTER TABLE approval_flows
  ADD COLUMN job_type_id integer REFERENCES job_types (id),
  ADD COLUMN skip_approval boolean NOT NULL DEFAULT false,
  ADD COLUMN auto_assign_type text CHECK (auto_assign_type IN ('manual', 'specific_user')),
  ADD COLUMN auto_assign_user_id integer REFERENCES users (id);

INSERT INTO approval_flows (project_id, name, job_type_id)
SELECT a.project_id, t.name, a.job_type_id
FROM project_flow_assignments a JOIN approval_flow_templates t ON t.id = a.template_id;
CREATE UNIQUE INDEX approval_flows_project_job_type ON approval_flows (project_id, job_type_id);

DROP TABLE project_flow_approvers, project_flow_assignments, approval_flow_steps, approval_flow_templates;
