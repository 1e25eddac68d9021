-- CODEX_LOG: Codex prompts and responses, tool calls, MCP calls, tokens, environments,
-- plugins and sites, one row per event. Prompt and response text stay in the loaded table.
with events as (
    {{ latest_events('codex_log', {
        'event_type': 'text',
        'client_id': 'text',
        'workspace_id': 'text',
        'event_details': 'json',
        'request_metadata': 'json',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    event_type as event_subtype,
    event_type as codex_event_type,
    client_id,
    workspace_id,
    {{ json_text('event_details', 'session_id') }} as session_id,
    {{ json_text('event_details', 'turn_id') }} as turn_id,
    {{ json_text('event_details', 'call_id') }} as call_id,
    {{ json_text('event_details', 'model') }} as model,
    {{ json_text('event_details', 'service_tier') }} as service_tier,
    {{ json_text('event_details', 'reasoning_effort') }} as reasoning_effort,
    {{ json_text('event_details', 'status') }} as status,
    {{ json_text('event_details', 'environment_id') }} as environment_id,
    {{ json_text('event_details', 'tool_name') }} as tool_name,
    {{ json_text('event_details', 'tool_type') }} as tool_type,
    {{ json_text('event_details', 'tool_call_id') }} as tool_call_id,
    {{ json_text('event_details', 'name') }} as mcp_tool_name,
    coalesce(
        {{ json_text('event_details', 'tool_meta.connector_id') }},
        {{ json_text('event_details', 'connector_id') }}
    ) as connector_id,
    {{ json_text('event_details', 'error_code') }} as error_code,
    {{ json_text('event_details', 'access_token_id') }} as access_token_id,
    {{ json_text('event_details', 'access_token_name') }} as access_token_name,
    {{ json_text('event_details', 'created_by_user_id') }} as access_token_created_by_user_id,
    {{ json_timestamp('event_details', 'expires_at') }} as access_token_expires_at,
    {{ json_text('event_details', 'plugin_id') }} as plugin_id,
    {{ json_text('event_details', 'plugin_name') }} as plugin_name,
    {{ json_text('event_details', 'plugin_version') }} as plugin_version,
    {{ json_text('event_details', 'plugin_scope') }} as plugin_scope,
    {{ json_text('event_details', 'project_id') }} as site_project_id,
    {{ json_text('event_details', 'deployment_id') }} as site_deployment_id,
    {{ json_integer('event_details', 'token_usage.input_tokens') }} as input_tokens,
    {{ json_integer('event_details', 'token_usage.output_tokens') }} as output_tokens,
    {{ json_integer('event_details', 'token_usage.cached_input_tokens') }} as cached_input_tokens,
    {{ json_integer('event_details', 'token_usage.reasoning_output_tokens') }} as reasoning_output_tokens,
    {{ request_columns() }},
    {{ json_without('event_details', [
        'prompt_text', 'response_text', 'result_preview', 'tool_input', 'environment_fields.description',
    ]) }} as event_details,
    {{ lineage_columns() }}
from events
