-- gpt_shared_users: the users each GPT is directly shared with now, one row per GPT and user.
{{ config(indexes=[{'columns': ['gpt_id', 'user_id'], 'unique': true}]) }}

with shares as (
    {{ current_rows('gpt_shared_users', ['gpt_id', 'id'], {
        'email': 'text',
        'role': 'text',
        'status': 'text',
    }) }}
)

select
    gpt_id,
    id as user_id,
    email,
    role,
    status,
    synced_at,
    {{ transformed_at() }} as _transformed_at
from shares
