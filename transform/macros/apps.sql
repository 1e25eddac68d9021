{#- APP_LOG and APP_AUTH_LOG come from two feeds, a workspace's and an organization's: one shape. -#}

{% macro app_log_events(table, scope) -%}
with events as (
    {{ openai_compliance.latest_events(table, {
        'app_id': 'text',
        'app_name': 'text',
        'app_type': 'text',
        'conversation_id': 'text',
        'log_type': 'text',
        'input': 'json',
        'output': 'json_array',
    }) }}
)

select
    {{ openai_compliance.envelope_columns(scope) }},
    log_type as event_subtype,
    app_id,
    app_name,
    app_type,
    conversation_id,
    log_type,
    {{ openai_compliance.json_length('output') }} as output_items,
    -- What the app was asked (input.query) and what it answered (output) stay in the loaded table.
    {{ openai_compliance.json_without('input', ['query']) }} as input,
    {{ openai_compliance.lineage_columns() }}
from events
{%- endmacro %}


{% macro app_auth_log_events(table, scope) -%}
with events as (
    {{ openai_compliance.latest_events(table, {
        'app_id': 'text',
        'link_id': 'text',
        'action': 'text',
    }) }}
)

select
    {{ openai_compliance.envelope_columns(scope) }},
    action as event_subtype,
    app_id,
    link_id,
    action as auth_action,
    {{ openai_compliance.lineage_columns() }}
from events
{%- endmacro %}
