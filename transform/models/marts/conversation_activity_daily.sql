-- How much did each user use ChatGPT a day: messages written and answered, conversations,
-- GPTs, projects, temporary chats, models and clients. No message text, no titles
-- (CONVERSATION_MESSAGE).
{{ config(
    materialized='incremental',
    unique_key='activity_date',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['activity_date']}, {'columns': ['user_id']}],
) }}

select
    event_date as activity_date,
    principal_id,
    actor_user_id as user_id,
    max(actor_email) as user_email,
    count(*) as message_events,
    count(distinct case when author_type = 'user' then message_id end) as messages_sent,
    count(distinct case when author_type = 'assistant' then message_id end) as messages_received,
    count(distinct conversation_id) as conversations,
    count(distinct gpt_id) as gpts,
    count(distinct project_id) as projects,
    count(distinct case when is_temporary_chat then conversation_id end) as temporary_chats,
    sum(case when attached_files > 0 then 1 else 0 end) as messages_with_files,
    {{ distinct_list('model') }} as models,
    {{ distinct_list('client_type') }} as client_types,
    min(event_at) as first_message_at,
    max(event_at) as last_message_at,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_conversation_message') }}
where {{ days_changed_since_last_build(ref('stg_conversation_message')) }}
group by event_date, principal_id, actor_user_id
