-- gpts: the workspace's GPTs as the Compliance API lists them now, one row per GPT: owner,
-- sharing and its recipients, name. The configurations' instructions, descriptions and
-- conversation starters stay in the loaded tables.
{{ config(indexes=[{'columns': ['gpt_id'], 'unique': true}]) }}

with gpts as (
    {{ current_rows('gpts', ['id'], {
        'created_at': 'number',
        'owner_id': 'text',
        'owner_email': 'text',
        'sharing': 'json',
        'latest_config': 'json',
    }) }}
),

-- The newest version of each GPT's configuration, for its name where latest_config is missing
-- (the masked extractor leaves it out; a load may select gpt_configs alone).
configs as (
    {{ latest_by_key(ref('stg_gpt_configs'), ['gpt_id'],
        ['created_at desc nulls last', 'config_id desc']) }}
)

select
    gpts.id as gpt_id,
    coalesce({{ json_text('gpts.latest_config', 'data.0.name') }}, configs.name) as gpt_name,
    coalesce({{ json_text('gpts.latest_config', 'data.0.id') }}, configs.config_id) as config_id,
    {{ epoch_timestamp('gpts.created_at') }} as created_at,
    gpts.owner_id as owner_user_id,
    gpts.owner_email,
    {{ json_text('gpts.sharing', 'visibility') }} as visibility,
    {{ json_boolean('gpts.sharing', 'permissions.can_read') }} as can_read,
    {{ json_boolean('gpts.sharing', 'permissions.can_view_config') }} as can_view_config,
    {{ json_boolean('gpts.sharing', 'permissions.can_write') }} as can_write,
    {{ json_get('gpts.sharing', 'recipients') }} as recipients,
    {{ json_array_length('gpts.sharing', 'recipients') }} as recipients_listed,
    gpts.synced_at,
    {{ transformed_at() }} as _transformed_at
from gpts
left join configs on configs.gpt_id = gpts.id
