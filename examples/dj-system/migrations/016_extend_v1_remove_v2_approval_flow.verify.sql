-- The runbook's "Verify immediately" queries, run inside the migration's transaction.
-- V1 columns added (the runbook: "Should return: 4").
-- expect: 4
SELECT count(*) AS v1_columns FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'approval_flows'
  AND column_name IN ('job_type_id', 'skip_approval', 'auto_assign_type', 'auto_assign_user_id');
-- V2 tables gone (the runbook: "Should return: 0").
-- expect: 0
SELECT count(*) AS v2_tables FROM information_schema.tables
WHERE table_schema = current_schema()
  AND table_name IN ('approval_flow_templates', 'approval_flow_steps',
                     'project_flow_assignments', 'project_flow_approvers');
-- No job type lost its flow on the way (the runbook's alert "No job type data").
-- expect: 5
SELECT count(*) FROM approval_flows WHERE job_type_id IS NOT NULL;
