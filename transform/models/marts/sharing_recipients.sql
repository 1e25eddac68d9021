-- Who is each GPT and project directly shared with, and is each of them one of the workspace's
-- users? One row per current GPT or project and recipient: the recipients of its
-- shared_users table and of its own sharing.recipients together, since a load may hold either
-- alone and a project's own list is a page that may be cut short.
with listed as (
    select
        cast('gpt' as {{ dbt.type_string() }}) as shared_kind,
        gpt_id as shared_id,
        user_id,
        email,
        1 as in_shared_users,
        0 as in_sharing
    from {{ ref('stg_gpt_shared_users') }}
    union all
    select
        cast('gpt' as {{ dbt.type_string() }}),
        gpts.gpt_id,
        {{ json_text('recipient.value', 'id') }},
        {{ json_text('recipient.value', 'email') }},
        0,
        1
    from {{ ref('stg_gpts') }} as gpts
    {{ json_array_rows('gpts.recipients', 'recipient') }}
    union all
    select
        cast('project' as {{ dbt.type_string() }}),
        project_id,
        user_id,
        email,
        1,
        0
    from {{ ref('stg_project_shared_users') }}
    union all
    select
        cast('project' as {{ dbt.type_string() }}),
        projects.project_id,
        {{ json_text('recipient.value', 'id') }},
        {{ json_text('recipient.value', 'email') }},
        0,
        1
    from {{ ref('stg_projects') }} as projects
    {{ json_array_rows('projects.recipients', 'recipient') }}
),

-- Current GPTs and projects only: shares left over under one deleted are not shares.
current_objects as (
    select cast('gpt' as {{ dbt.type_string() }}) as shared_kind, gpt_id as shared_id
    from {{ ref('stg_gpts') }}
    union all
    select cast('project' as {{ dbt.type_string() }}), project_id
    from {{ ref('stg_projects') }}
),

recipients as (
    select
        listed.shared_kind,
        listed.shared_id,
        coalesce(listed.user_id, lower(listed.email)) as recipient_key,
        max(listed.user_id) as user_id,
        max(listed.email) as email,
        max(listed.in_shared_users) = 1 as in_shared_users,
        max(listed.in_sharing) = 1 as in_sharing
    from listed
    inner join current_objects
        on current_objects.shared_kind = listed.shared_kind
        and current_objects.shared_id = listed.shared_id
    where coalesce(listed.user_id, listed.email) is not null
    group by listed.shared_kind, listed.shared_id, coalesce(listed.user_id, lower(listed.email))
),

users_by_email as (
    select lower(email) as email, max(user_id) as user_id
    from {{ ref('stg_users') }}
    where email is not null
    group by lower(email)
),

-- A recipient is the workspace's when its user id, or else its email, is a current user's (a
-- masked load hashes both emails alike).
matched as (
    select
        recipients.*,
        coalesce(by_id.user_id, users_by_email.user_id) as workspace_user_id
    from recipients
    left join {{ ref('stg_users') }} as by_id
        on by_id.user_id = recipients.user_id
    left join users_by_email
        on users_by_email.email = lower(recipients.email)
)

select
    matched.shared_kind,
    matched.shared_id,
    matched.recipient_key,
    coalesce(matched.user_id, matched.workspace_user_id) as user_id,
    coalesce(matched.email, users.email) as email,
    matched.workspace_user_id is not null as is_workspace_user,
    users.role as user_role,
    users.status as user_status,
    matched.in_shared_users,
    matched.in_sharing,
    {{ transformed_at() }} as _transformed_at
from matched
left join {{ ref('stg_users') }} as users
    on users.user_id = matched.workspace_user_id
