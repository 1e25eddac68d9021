-- gpt_configs: every version of each current GPT's configuration, one row per GPT and version:
-- its name, author, how many files and tools. Instructions, description and conversation
-- starters stay in the loaded table.
{{ config(indexes=[{'columns': ['gpt_id', 'config_id'], 'unique': true}]) }}

with configs as (
    {{ current_rows('gpt_configs', ['gpt_id', 'id'], {
        'name': 'text',
        'created_at': 'number',
        'version_author': 'json',
        'files': 'json',
        'tools': 'json',
    }) }}
)

select
    gpt_id,
    id as config_id,
    name,
    {{ epoch_timestamp('created_at') }} as created_at,
    {{ json_text('version_author', 'id') }} as version_author_user_id,
    {{ json_text('version_author', 'email') }} as version_author_email,
    {{ json_array_length('files', 'data') }} as files,
    {{ json_array_length('tools', 'data') }} as tools,
    synced_at,
    {{ transformed_at() }} as _transformed_at
from configs
