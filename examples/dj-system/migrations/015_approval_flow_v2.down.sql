DROP TABLE jobs, project_flow_approvers, project_flow_assignments, approval_flow_steps,
  approval_flow_templates, approval_flows, job_types, projects, sessions, users;
