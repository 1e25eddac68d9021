-- Who signed in on which day, how often, from which IP addresses and with which user agents;
-- and how many of their attempts failed (AUTH_LOG).
{{ config(
    materialized='incremental',
    unique_key='activity_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['activity_date']}, {'columns': ['user_id']}],
) }}

select
    event_date as activity_date,
    principal_id,
    actor_user_id as user_id,
    max(actor_email) as user_email,
    sum(case when is_sign_in then 1 else 0 end) as sign_ins,
    sum(case when is_failed_sign_in then 1 else 0 end) as failed_sign_ins,
    min(case when is_sign_in then event_at end) as first_sign_in_at,
    max(case when is_sign_in then event_at end) as last_sign_in_at,
    {{ distinct_list("case when is_sign_in then client_ip end") }} as ip_addresses,
    {{ distinct_list("case when is_sign_in then client_user_agent end") }} as user_agents,
    {{ distinct_list("case when is_sign_in then client_country end") }} as countries,
    {{ distinct_list("case when is_failed_sign_in then client_ip end") }} as failed_ip_addresses,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_auth_log') }}
where (is_sign_in or is_failed_sign_in)
    and {{ days_changed_since_last_build(ref('stg_auth_log')) }}
group by event_date, principal_id, actor_user_id
