-- CUSTOM_AGENTS_LOG: workspace agents built, published, run, calling connectors and triggered.
-- Agents' messages (text) and the user message that started a run stay in the loaded table.
with events as (
    {{ latest_events('custom_agents_log', {
        'event_type': 'text',
        'client_id': 'text',
        'workspace_id': 'text',
        'event_details': 'json',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    event_type as event_subtype,
    event_type as agent_event_type,
    client_id,
    workspace_id,
    {{ json_text('actor', 'agent_runtime.delegator.user_id') }} as delegator_user_id,
    {{ json_text('actor', 'agent_runtime.delegator.user_email') }} as delegator_email,
    {{ json_text('event_details', 'agent_id') }} as agent_id,
    {{ json_text('event_details', 'version_id') }} as version_id,
    {{ json_text('event_details', 'agent_fields.name') }} as agent_name,
    {{ json_text('event_details', 'run_id') }} as run_id,
    {{ json_text('event_details', 'conversation_id') }} as conversation_id,
    {{ json_text('event_details', 'invoker.type') }} as invoker_type,
    {{ json_text('event_details', 'invoker.initiator.kind') }} as initiator_kind,
    {{ json_text('event_details', 'invoker.initiator.auth_user_id') }} as initiator_user_id,
    {{ json_text('event_details', 'connector_id') }} as connector_id,
    {{ json_text('event_details', 'connector_name') }} as connector_name,
    {{ json_text('event_details', 'action_name') }} as connector_action_name,
    {{ json_text('event_details', 'link_id') }} as link_id,
    {{ json_text('event_details', 'status') }} as status,
    {{ json_text('event_details', 'skill_name') }} as skill_name,
    {{ json_text('event_details', 'memory_path') }} as memory_path,
    {{ json_text('event_details', 'access_method') }} as memory_access_method,
    {{ json_text('event_details', 'trigger_id') }} as trigger_id,
    {{ json_text('event_details', 'trigger_type') }} as trigger_type,
    {{ json_text('event_details', 'publish_type') }} as publish_type,
    {{ json_without('event_details', [
        'text', 'invoker.user_message_text', 'agent_fields.prompt', 'agent_fields.starter_prompts',
        'trigger_fields.instructions',
    ]) }} as event_details,
    {{ lineage_columns() }}
from events
