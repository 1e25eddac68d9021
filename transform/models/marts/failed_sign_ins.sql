-- Which sign-ins failed: whose, when, from which IP address, country and user agent (AUTH_LOG).
{{ config(materialized='view') }}

select
    event_id,
    event_at,
    event_date,
    principal_id,
    actor_user_id as user_id,
    actor_email as user_email,
    auth_action,
    auth_provider_name,
    client_ip,
    client_country,
    client_region,
    client_city,
    client_asn,
    client_user_agent,
    client_ja3,
    client_ja4,
    log_file_id
from {{ ref('stg_auth_log') }}
where is_failed_sign_in
