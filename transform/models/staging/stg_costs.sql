-- COSTS: one paid-plan usage and billing row for one UTC hour, by user or agent, product,
-- surface, client and model. Charges per SKU are in stg_costs_billing.
with events as (
    {{ latest_events('costs', {'payload': 'json'}) }}
)

select
    {{ envelope_columns('organization') }},
    {{ json_text('payload', 'product') }} as event_subtype,
    case when {{ matches(json_text('payload', 'day'), '[0-9]{4}-[0-9]{2}-[0-9]{2}') }}
        then cast({{ json_text('payload', 'day') }} as date) end as usage_date,
    {{ json_integer('payload', 'hour') }} as usage_hour,
    {{ json_text('payload', 'organization_id') }} as billed_organization_id,
    {{ json_text('payload', 'identity.user_id') }} as user_id,
    {{ json_text('payload', 'identity.email') }} as user_email,
    {{ json_text('payload', 'identity.name') }} as user_name,
    {{ json_get('payload', 'identity.groups') }} as user_groups,
    {{ json_text('payload', 'identity.agent.id') }} as agent_id,
    {{ json_text('payload', 'identity.agent.name') }} as agent_name,
    {{ json_text('payload', 'product') }} as product,
    {{ json_text('payload', 'surface') }} as surface,
    {{ json_text('payload', 'client') }} as client,
    {{ json_text('payload', 'model') }} as model,
    {{ json_text('payload', 'service_tier') }} as service_tier,
    {{ json_text('payload', 'reasoning') }} as reasoning,
    {{ json_get('payload', 'measures.usage') }} as token_usage,
    {{ json_get('payload', 'measures.billing') }} as billing,
    {{ lineage_columns() }}
from events
