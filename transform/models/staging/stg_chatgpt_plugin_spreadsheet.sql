-- CHATGPT_PLUGIN_SPREADSHEET: prompts sent from the Excel and Google Sheets add-ins and their
-- responses, with tokens. Prompt and response text stay in the loaded table.
with events as (
    {{ latest_events('chatgpt_plugin_spreadsheet', {
        'event_type': 'text',
        'client_id': 'text',
        'workspace_id': 'text',
        'event_details': 'json',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    event_type as event_subtype,
    event_type as plugin_event_type,
    client_id,
    workspace_id,
    {{ json_text('event_details', 'session_id') }} as session_id,
    {{ json_text('event_details', 'model') }} as model,
    {{ json_text('event_details', 'status') }} as status,
    {{ json_text('event_details', 'environment_id') }} as environment_id,
    {{ json_integer('event_details', 'token_usage.input_tokens') }} as input_tokens,
    {{ json_integer('event_details', 'token_usage.output_tokens') }} as output_tokens,
    {{ json_integer('event_details', 'token_usage.cached_input_tokens') }} as cached_input_tokens,
    {{ json_integer('event_details', 'token_usage.reasoning_output_tokens') }} as reasoning_output_tokens,
    {{ json_without('event_details', ['prompt_text', 'response_text']) }} as event_details,
    {{ lineage_columns() }}
from events
