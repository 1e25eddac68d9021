-- CONVERSATION_MESSAGE: one row per message snapshot (a message edited later has several, each
-- its own event). Who wrote it, with which model and tools, in which conversation, GPT or
-- project; the message's content and the conversation's title stay in the loaded table.
with events as (
    {{ latest_events('conversation_message', {
        'message': 'json',
        'conversation': 'json',
        'previous_message_id': 'text',
    }) }}
)

select
    {{ envelope_columns('workspace') }},
    {{ json_text('message', 'author.type') }} as event_subtype,
    {{ json_text('message', 'id') }} as message_id,
    previous_message_id,
    {{ json_timestamp('message', 'created_at') }} as message_created_at,
    {{ json_text('message', 'author.type') }} as author_type,
    {{ json_text('message', 'author.client_type') }} as client_type,
    {{ json_text('message', 'author.model') }} as model,
    {{ json_get('message', 'author.tools_used') }} as tools_used,
    {{ json_get('message', 'author.skills_used') }} as skills_used,
    {{ json_text('message', 'content.type') }} as content_type,
    {{ json_array_length('message', 'content.annotations') }} as annotations,
    {{ json_array_length('message', 'files') }} as attached_files,
    {{ json_text('conversation', 'id') }} as conversation_id,
    {{ json_timestamp('conversation', 'created_at') }} as conversation_created_at,
    {{ json_text('conversation', 'gpt_id') }} as gpt_id,
    {{ json_text('conversation', 'gpt_name') }} as gpt_name,
    {{ json_text('conversation', 'project_id') }} as project_id,
    {{ json_text('conversation', 'project_name') }} as project_name,
    {{ json_boolean('conversation', 'is_pinned') }} as is_pinned,
    {{ json_boolean('conversation', 'is_temporary_chat') }} as is_temporary_chat,
    {{ json_without('message', ['content']) }} as message,
    {{ json_without('conversation', ['title']) }} as conversation,
    {{ lineage_columns() }}
from events
