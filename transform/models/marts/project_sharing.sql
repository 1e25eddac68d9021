-- Which projects are shared outside the team, and who owns them? One row per project the API
-- lists now.
{{ sharing_summary('project', ref('stg_projects'), 'project_id') }}
