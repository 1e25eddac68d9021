-- What did admins do, to whom, from where, and did it succeed? One row per AUDIT_LOG event of
-- admin privilege.
{{ config(materialized='view') }}

select
    event_id,
    event_at,
    event_date,
    principal_id,
    actor_type,
    actor_identifier,
    actor_user_id,
    actor_email,
    actor_key_id,
    actor_credential_id,
    action,
    action_result,
    subject_user_id,
    new_role,
    invited_role,
    feature,
    feature_enabled,
    app_id,
    plugin_id,
    gpt_id,
    project_id,
    group_id,
    client_ip,
    client_country,
    client_user_agent,
    action_data,
    log_file_id
from {{ ref('stg_audit_log') }}
where action_privilege = 'ADMIN'
