-- What did each user (or unattributed usage) cost, by product and UTC day, in each unit the
-- API charges in (CREDITS), with the estimated US dollars beside (COSTS).
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['usage_date']}, {'columns': ['user_id']}],
) }}

select
    usage_date,
    principal_id as organization_id,
    user_id,
    max(user_email) as user_email,
    product,
    cost_unit,
    count(distinct event_id) as cost_rows,
    sum(cost) as cost,
    sum(estimated_cost_usd) as estimated_cost_usd,
    sum(case when quantity_unit = 'tokens' then quantity end) as tokens,
    {{ distinct_list('model') }} as models,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_costs_billing') }}
where {{ days_changed_since_last_build(ref('stg_costs_billing'), 'usage_date') }}
group by usage_date, principal_id, user_id, product, cost_unit
