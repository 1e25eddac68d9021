-- users: the workspace's users as the Compliance API lists them now, one row per user.
{{ config(indexes=[{'columns': ['user_id'], 'unique': true}]) }}

with users as (
    {{ current_rows('users', ['id'], {
        'email': 'text',
        'name': 'text',
        'role': 'text',
        'status': 'text',
        'created_at': 'number',
    }) }}
)

select
    id as user_id,
    email,
    name,
    role,
    status,
    coalesce(role in ('account-owner', 'account-admin'), false) as is_admin,
    {{ epoch_timestamp('created_at') }} as created_at,
    synced_at,
    {{ transformed_at() }} as _transformed_at
from users
