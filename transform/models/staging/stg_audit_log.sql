-- AUDIT_LOG: what admins and users changed in the workspace, one row per event.
with events as (
    {{ latest_events('audit_log', {
        'action': 'text',
        'action_result': 'text',
        'action_privilege': 'text',
        'request_metadata': 'json',
        'action_data': 'json',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    action as event_subtype,
    action,
    action_result,
    action_privilege,
    -- The user an action was done to, under whichever name the reference gives it.
    coalesce(
        {{ json_text('action_data', 'user_id') }},
        {{ json_text('action_data', 'owner_user_id') }},
        {{ json_text('action_data', 'deleted_user_id') }},
        {{ json_text('action_data', 'logged_out_user_id') }},
        {{ json_text('action_data', 'allowed_user_id') }},
        {{ json_text('action_data', 'disallowed_user_id') }},
        {{ json_text('action_data', 'added_user_id') }},
        {{ json_text('action_data', 'removed_user_id') }},
        {{ json_text('action_data', 'auth_user_id') }}
    ) as subject_user_id,
    {{ json_text('action_data', 'new_role') }} as new_role,
    {{ json_text('action_data', 'role') }} as invited_role,
    {{ json_text('action_data', 'feature') }} as feature,
    {{ json_boolean('action_data', 'value') }} as feature_enabled,
    {{ json_text('action_data', 'app_id') }} as app_id,
    {{ json_text('action_data', 'plugin_id') }} as plugin_id,
    -- CUSTOM_GPT_* actions name their GPT `id`; third-party ones third_party_gizmo_id.
    coalesce(
        {{ json_text('action_data', 'gpt_id') }},
        {{ json_text('action_data', 'third_party_gizmo_id') }},
        case when action like 'CUSTOM_GPT%' then {{ json_text('action_data', 'id') }} end
    ) as gpt_id,
    {{ json_text('action_data', 'project_id') }} as project_id,
    {{ json_text('action_data', 'group_id') }} as group_id,
    {{ json_text('action_data', 'conversation_id') }} as conversation_id,
    {{ json_text('action_data', 'credential_id') }} as credential_id,
    {{ json_text('action_data', 'event_type') }} as compliance_event_type,
    {{ json_text('action_data', 'log_file_id') }} as compliance_log_file_id,
    {{ request_columns() }},
    request_metadata,
    -- What an admin wrote (a system instruction, a policy, a banner) stays in the loaded table.
    {{ json_without('action_data', ['system_instruction', 'workspace_policy', 'markdown']) }} as action_data,
    {{ lineage_columns() }}
from events
