-- Which users have not signed in for 30 days, which admins act most? One row per user the API
-- lists now: their last sign-in and failed ones (AUTH_LOG), the admin actions they did
-- (AUDIT_LOG), their ChatGPT and Codex use. The 30 days are those before the build started
-- (_transformed_at).
{{ config(indexes=[{'columns': ['user_id'], 'unique': true}]) }}

{%- set window_start = '(' ~ dbt.dateadd('day', -30, transformed_at()) ~ ')' %}

with sign_ins as (
    select
        actor_user_id as user_id,
        event_at,
        client_ip,
        client_country,
        client_user_agent,
        row_number() over (partition by actor_user_id order by event_at desc, event_id desc) as recency
    from {{ ref('stg_auth_log') }}
    where is_sign_in and actor_user_id is not null
),

auth as (
    select
        actor_user_id as user_id,
        sum(case when is_sign_in and event_at >= {{ window_start }} then 1 else 0 end) as sign_ins_30d,
        sum(case when is_failed_sign_in and event_at >= {{ window_start }} then 1 else 0 end) as failed_sign_ins_30d,
        max(case when is_failed_sign_in then event_at end) as last_failed_sign_in_at
    from {{ ref('stg_auth_log') }}
    where (is_sign_in or is_failed_sign_in) and actor_user_id is not null
    group by actor_user_id
),

admin as (
    select
        actor_user_id as user_id,
        event_at,
        action,
        action_result,
        count(*) over (partition by actor_user_id) as admin_actions,
        sum(case when event_at >= {{ window_start }} then 1 else 0 end) over (partition by actor_user_id) as admin_actions_30d,
        row_number() over (partition by actor_user_id order by event_at desc, event_id desc) as recency
    from {{ ref('stg_audit_log') }}
    where action_privilege = 'ADMIN' and actor_user_id is not null
),

conversations as (
    select
        user_id,
        sum(case when activity_date >= {{ utc_date(window_start) }} then messages_sent else 0 end) as messages_sent_30d,
        max(last_message_at) as last_message_at
    from {{ ref('conversation_activity_daily') }}
    where user_id is not null
    group by user_id
),

codex as (
    select
        user_id,
        sum(case when activity_date >= {{ utc_date(window_start) }} then prompts else 0 end) as codex_prompts_30d,
        max(last_event_at) as last_codex_event_at
    from {{ ref('codex_activity_daily') }}
    where user_id is not null
    group by user_id
)

select
    users.user_id,
    users.email,
    users.name,
    users.role,
    users.status,
    users.is_admin,
    users.created_at,
    sign_ins.event_at as last_sign_in_at,
    sign_ins.client_ip as last_sign_in_ip,
    sign_ins.client_country as last_sign_in_country,
    sign_ins.client_user_agent as last_sign_in_user_agent,
    coalesce(auth.sign_ins_30d, 0) as sign_ins_30d,
    coalesce(auth.failed_sign_ins_30d, 0) as failed_sign_ins_30d,
    auth.last_failed_sign_in_at,
    coalesce(admin.admin_actions, 0) as admin_actions,
    coalesce(admin.admin_actions_30d, 0) as admin_actions_30d,
    admin.event_at as last_admin_action_at,
    admin.action as last_admin_action,
    admin.action_result as last_admin_action_result,
    coalesce(conversations.messages_sent_30d, 0) as messages_sent_30d,
    conversations.last_message_at,
    coalesce(codex.codex_prompts_30d, 0) as codex_prompts_30d,
    codex.last_codex_event_at,
    users.synced_at,
    {{ transformed_at() }} as _transformed_at
from {{ ref('stg_users') }} as users
left join sign_ins
    on sign_ins.user_id = users.user_id
    and sign_ins.recency = 1
left join auth
    on auth.user_id = users.user_id
left join admin
    on admin.user_id = users.user_id
    and admin.recency = 1
left join conversations
    on conversations.user_id = users.user_id
left join codex
    on codex.user_id = users.user_id
