-- The runbook's rollback check: "Should return: approval_flow_templates (V2 table restored)".
-- expect: approval_flow_templates
SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = 'approval_flow_templates';
-- All four V2 tables, and the V1 columns gone.
-- expect: 4
SELECT count(*) FROM information_schema.tables
WHERE table_schema = current_schema()
  AND table_name IN ('approval_flow_templates', 'approval_flow_steps',
                     'project_flow_assignments', 'project_flow_approvers');
-- expect: 0
SELECT count(*) FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'approval_flows'
  AND column_name IN ('job_type_id', 'skip_approval', 'auto_assign_type', 'auto_assign_user_id');
