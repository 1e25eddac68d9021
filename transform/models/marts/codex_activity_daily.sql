-- How did each user use Codex a day, from which client: prompts, responses, tool and MCP calls
-- (failed ones apart), sessions, tokens and models (CODEX_LOG).
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
    client_id,
    count(*) as events,
    sum(case when codex_event_type = 'PROMPT_SENT' then 1 else 0 end) as prompts,
    sum(case when codex_event_type = 'PROMPT_RESPONSE_RECEIVED' then 1 else 0 end) as responses,
    sum(case when codex_event_type in ('TOOL_CALL_COMPLETED', 'TOOL_CALL_FAILED') then 1 else 0 end) as tool_calls,
    sum(case when codex_event_type = 'TOOL_CALL_FAILED' then 1 else 0 end) as failed_tool_calls,
    sum(case when codex_event_type = 'APP_MCP_CALL' then 1 else 0 end) as mcp_calls,
    sum(case when codex_event_type in ('ACCESS_TOKEN_CREATED', 'ACCESS_TOKEN_REVOKED') then 1 else 0 end) as access_token_changes,
    count(distinct session_id) as sessions,
    coalesce(sum(input_tokens), 0) as input_tokens,
    coalesce(sum(cached_input_tokens), 0) as cached_input_tokens,
    coalesce(sum(output_tokens), 0) as output_tokens,
    coalesce(sum(reasoning_output_tokens), 0) as reasoning_output_tokens,
    {{ distinct_list('model') }} as models,
    min(event_at) as first_event_at,
    max(event_at) as last_event_at,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_codex_log') }}
where {{ days_changed_since_last_build(ref('stg_codex_log')) }}
group by event_date, principal_id, actor_user_id, client_id
