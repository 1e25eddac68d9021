-- CODEX_SECURITY_LOG: Codex Security scan configurations, findings and proposed patches.
with events as (
    {{ latest_events('codex_security_log', {
        'event_type': 'text',
        'client_id': 'text',
        'workspace_id': 'text',
        'event_details': 'json',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    event_type as event_subtype,
    event_type as codex_security_event_type,
    client_id,
    workspace_id,
    {{ json_text('event_details', 'scan_configuration_id') }} as scan_configuration_id,
    {{ json_text('event_details', 'scan_configuration_fields.scan_type') }} as scan_type,
    {{ json_text('event_details', 'scan_configuration_fields.repo_url') }} as repo_url,
    coalesce(
        {{ json_text('event_details', 'updated_fields.state') }},
        {{ json_text('event_details', 'scan_configuration_fields.state') }}
    ) as scan_configuration_state,
    {{ json_text('event_details', 'finding_id') }} as finding_id,
    {{ json_text('event_details', 'updated_fields.status') }} as finding_status,
    {{ json_text('event_details', 'updated_fields.criticality') }} as finding_criticality,
    {{ json_text('event_details', 'updated_fields.assignee_user_email') }} as finding_assignee_email,
    {{ json_text('event_details', 'pr_url') }} as pr_url,
    event_details,
    {{ lineage_columns() }}
from events
