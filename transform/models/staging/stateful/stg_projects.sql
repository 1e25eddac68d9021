-- projects: the workspace's projects as the Compliance API lists them now, one row per
-- project: owner, sharing and its recipients. A project's name is left in the loaded tables,
-- as a conversation's title is (the masked extractor drops it as text people wrote).
{{ config(indexes=[{'columns': ['project_id'], 'unique': true}]) }}

with projects as (
    {{ current_rows('projects', ['id'], {
        'created_at': 'number',
        'owner_id': 'text',
        'owner_email': 'text',
        'sharing': 'json',
    }) }}
)

select
    id as project_id,
    {{ epoch_timestamp('created_at') }} as created_at,
    owner_id as owner_user_id,
    owner_email,
    {{ json_text('sharing', 'visibility') }} as visibility,
    {{ json_boolean('sharing', 'permissions.can_read') }} as can_read,
    {{ json_boolean('sharing', 'permissions.can_view_config') }} as can_view_config,
    {{ json_boolean('sharing', 'permissions.can_write') }} as can_write,
    -- A project lists its recipients as a page (a list object), a GPT as an array.
    {{ json_get('sharing', 'recipients.data') }} as recipients,
    {{ json_array_length('sharing', 'recipients.data') }} as recipients_listed,
    {{ json_boolean('sharing', 'recipients.has_more') }} as recipients_truncated,
    synced_at,
    {{ transformed_at() }} as _transformed_at
from projects
