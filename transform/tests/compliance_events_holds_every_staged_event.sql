-- compliance_events holds as many events of each stream as its staging model: the incremental
-- path lost or repeated none. Rows returned are streams whose counts differ.
{%- set streams = [
    'auth_log', 'audit_log', 'app_log', 'app_auth_log', 'app_organization_log',
    'app_auth_organization_log', 'codex_log', 'codex_security_log', 'custom_agents_log',
    'conversation_message', 'chatgpt_plugin_spreadsheet', 'costs',
] %}

with staged as (
    {% for stream in streams %}
    select '{{ stream }}' as source_stream, count(*) as events from {{ ref('stg_' ~ stream) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

combined as (
    select source_stream, count(*) as events
    from {{ ref('compliance_events') }}
    group by source_stream
)

select staged.source_stream, staged.events as staged_events, combined.events as combined_events
from staged
left join combined on combined.source_stream = staged.source_stream
where staged.events <> coalesce(combined.events, 0)
