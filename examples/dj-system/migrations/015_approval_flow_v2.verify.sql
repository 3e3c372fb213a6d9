-- The V2 approval flow tables exist.
-- expect: 4
SELECT count(*) FROM information_schema.tables
WHERE table_schema = current_schema()
  AND table_name IN ('approval_flow_templates', 'approval_flow_steps',
                     'project_flow_assignments', 'project_flow_approvers');
-- Every job type has a V2 flow.
-- expect: 5
SELECT count(*) FROM project_flow_assignments;
