-- COSTS charges: one row per SKU entry of a cost row's measures.billing.
{{ config(materialized='view', unique_key=none, indexes=[]) }}

select
    costs.event_id,
    costs.principal_id,
    costs.usage_date,
    costs.usage_hour,
    costs.user_id,
    costs.user_email,
    costs.agent_id,
    costs.product,
    costs.surface,
    costs.client,
    costs.model,
    {{ json_text('charge.value', 'sku') }} as sku,
    {{ json_number('charge.value', 'quantity.value') }} as quantity,
    {{ json_text('charge.value', 'quantity.unit') }} as quantity_unit,
    {{ json_number('charge.value', 'cost.value') }} as cost,
    {{ json_text('charge.value', 'cost.unit') }} as cost_unit,
    {{ json_number('charge.value', 'estimated_cost_usd.value') }} as estimated_cost_usd,
    costs.log_file_id,
    costs._transformed_at
from {{ ref('stg_costs') }} as costs
{{ json_array_rows('costs.billing', 'charge') }}
