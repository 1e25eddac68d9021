-- AUTH_LOG: sign-ins, sign-outs, tokens and password resets, one row per event.
with events as (
    {{ latest_events('auth_log', {'request_metadata': 'json', 'action_data': 'json'}) }}
)

select
    {{ envelope_columns('workspace') }},
    {{ json_text('action_data', 'action') }} as event_subtype,
    {{ json_text('action_data', 'action') }} as auth_action,
    {{ json_text('action_data', 'auth_provider_name') }} as auth_provider_name,
    {{ json_text('action_data', 'role') }} as user_role,
    coalesce({{ json_text('action_data', 'action') }} in ('{{ var("sign_in_actions") | join("', '") }}'), false) as is_sign_in,
    coalesce({{ json_text('action_data', 'action') }} in ('{{ var("failed_sign_in_actions") | join("', '") }}'), false) as is_failed_sign_in,
    {{ request_columns() }},
    request_metadata,
    action_data,
    {{ lineage_columns() }}
from events
