-- Every event of every stream, workspace and organization alike, one row each.
{{ config(
    materialized='incremental',
    unique_key=['source_stream', 'event_id'],
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[
        {'columns': ['event_id']},
        {'columns': ['event_date']},
        {'columns': ['actor_identifier', 'event_date']},
        {'columns': ['_transformed_at']},
    ],
) }}

{%- set streams = [
    'auth_log',
    'audit_log',
    'app_log',
    'app_auth_log',
    'app_organization_log',
    'app_auth_organization_log',
    'codex_log',
    'codex_security_log',
    'custom_agents_log',
    'conversation_message',
    'chatgpt_plugin_spreadsheet',
    'costs',
] %}

{% for stream in streams %}
select
    event_id,
    event_type,
    event_subtype,
    cast('{{ stream }}' as {{ dbt.type_string() }}) as source_stream,
    scope,
    event_at,
    event_date,
    principal_id,
    principal_type,
    actor_type,
    actor_identifier,
    actor_user_id,
    actor_email,
    actor_key_id,
    actor_credential_id,
    actor_id,
    log_file_id,
    log_file_end_time,
    _transformed_at
from {{ ref('stg_' ~ stream) }}
where {{ changed_since_last_build() }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
