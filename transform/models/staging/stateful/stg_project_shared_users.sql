-- project_shared_users: the users each project is directly shared with now, one row per
-- project and user.
{{ config(indexes=[{'columns': ['project_id', 'user_id'], 'unique': true}]) }}

with shares as (
    {{ current_rows('project_shared_users', ['project_id', 'id'], {
        'email': 'text',
        'role': 'text',
        'status': 'text',
    }) }}
)

select
    project_id,
    id as user_id,
    email,
    role,
    status,
    synced_at,
    {{ transformed_at() }} as _transformed_at
from shares
