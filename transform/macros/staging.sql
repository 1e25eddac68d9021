{#- The columns every staging model starts with: the event, its principal and its actor. -#}
{% macro envelope_columns(scope) -%}
    event_id,
    envelope_type as event_type,
    event_at,
    event_date,
    cast('{{ scope }}' as {{ dbt.type_string() }}) as scope,
    {{ openai_compliance.json_text('principal', 'id') }} as principal_id,
    {{ openai_compliance.json_text('principal', 'type') }} as principal_type,
    {{ openai_compliance.json_text('actor', 'type') }} as actor_type,
    {{ openai_compliance.json_text('actor', 'user_id') }} as actor_user_id,
    {{ openai_compliance.json_text('actor', 'user_email') }} as actor_email,
    {{ openai_compliance.json_text('actor', 'redacted_id') }} as actor_key_id,
    {{ openai_compliance.json_text('actor', 'credential_id') }} as actor_credential_id,
    {{ openai_compliance.json_text('actor', 'id') }} as actor_id,
    {{ openai_compliance.json_text('actor', 'name') }} as actor_name,
    coalesce(
        {{ openai_compliance.json_text('actor', 'user_id') }},
        {{ openai_compliance.json_text('actor', 'redacted_id') }},
        {{ openai_compliance.json_text('actor', 'id') }}
    ) as actor_identifier,
    actor
{%- endmacro %}


{#- The columns every staging model ends with: where the event came from, and when it was modelled. -#}
{% macro lineage_columns() -%}
    log_file_id,
    log_file_end_time,
    unknown_fields,
    {{ openai_compliance.transformed_at() }} as _transformed_at
{%- endmacro %}


{#- The columns of the client request an event records (AUTH_LOG, AUDIT_LOG, CODEX_LOG). -#}
{% macro request_columns(column='request_metadata') -%}
    {{ openai_compliance.json_text(column, 'client_ip') }} as client_ip,
    {{ openai_compliance.json_text(column, 'client_user_agent') }} as client_user_agent,
    nullif({{ openai_compliance.json_text(column, 'client_ip_details.country') }}, '') as client_country,
    nullif({{ openai_compliance.json_text(column, 'client_ip_details.region') }}, '') as client_region,
    nullif({{ openai_compliance.json_text(column, 'client_ip_details.city') }}, '') as client_city,
    nullif({{ openai_compliance.json_text(column, 'client_ip_details.asn') }}, '') as client_asn,
    nullif({{ openai_compliance.json_text(column, 'client_ja3') }}, '') as client_ja3,
    nullif({{ openai_compliance.json_text(column, 'client_ja4') }}, '') as client_ja4,
    {{ openai_compliance.json_text(column, 'destination_hostname') }} as destination_hostname
{%- endmacro %}

