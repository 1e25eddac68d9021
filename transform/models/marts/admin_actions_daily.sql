-- Which admin (user or API key) did which admin actions, how many times a day, and with what
-- result (AUDIT_LOG events of admin privilege).
{{ config(
    materialized='incremental',
    unique_key='activity_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['activity_date']}, {'columns': ['actor_identifier']}],
) }}

select
    event_date as activity_date,
    principal_id,
    actor_type,
    actor_identifier,
    max(actor_email) as actor_email,
    action,
    count(*) as actions,
    sum(case when action_result = 'SUCCESS' then 1 else 0 end) as succeeded,
    sum(case when action_result = 'BLOCKED' then 1 else 0 end) as blocked,
    sum(case when action_result = 'ERROR' then 1 else 0 end) as failed,
    count(distinct subject_user_id) as subject_users,
    min(event_at) as first_at,
    max(event_at) as last_at,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_audit_log') }}
where action_privilege = 'ADMIN'
    and {{ days_changed_since_last_build(ref('stg_audit_log')) }}
group by event_date, principal_id, actor_type, actor_identifier, action
