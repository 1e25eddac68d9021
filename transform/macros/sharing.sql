{#-
  GPTs and projects are shared alike: one row per current GPT (kind 'gpt') or project of
  `objects` (stg_gpts, stg_projects; its key `id_column`), with its owner as the users table
  has them, how it is shared (visibility, direct recipients, recipients outside the users) and
  the audit events that name it (stg_audit_log's `id_column`). `columns` are further columns of
  `objects` to keep (a GPT's name).
-#}
{% macro sharing_summary(kind, objects, id_column, columns=[]) -%}
with recipients as (
    select
        shared_id,
        count(*) as shared_users,
        sum(case when is_workspace_user then 0 else 1 end) as external_shared_users,
        sum(case when user_status = 'inactive' then 1 else 0 end) as inactive_shared_users
    from {{ ref('sharing_recipients') }}
    where shared_kind = '{{ kind }}'
    group by shared_id
),

audit as (
    select
        {{ id_column }},
        event_id,
        event_at,
        action,
        actor_identifier,
        actor_user_id,
        actor_email,
        count(*) over (partition by {{ id_column }}) as audit_events,
        row_number() over (partition by {{ id_column }} order by event_at desc, event_id desc) as recency
    from {{ ref('stg_audit_log') }}
    where {{ id_column }} is not null
)

select
    objects.{{ id_column }},
    {%- for column in columns %}
    objects.{{ column }},
    {%- endfor %}
    objects.created_at,
    objects.owner_user_id,
    coalesce(owners.email, objects.owner_email) as owner_email,
    owners.name as owner_name,
    owners.role as owner_role,
    owners.status as owner_status,
    -- NULL where the API names no owner (third-party GPTs and projects).
    case when objects.owner_user_id is not null then owners.user_id is not null end as owner_is_workspace_user,
    objects.visibility,
    objects.can_read,
    objects.can_view_config,
    objects.can_write,
    coalesce(recipients.shared_users, 0) as shared_users,
    coalesce(recipients.external_shared_users, 0) as external_shared_users,
    coalesce(recipients.inactive_shared_users, 0) as inactive_shared_users,
    -- Anyone with the link, or the GPT Store: people outside the workspace can use it.
    coalesce(objects.visibility in ('anyone-with-link', 'gpt-store'), false) as is_public,
    coalesce(objects.visibility in ('anyone-with-link', 'gpt-store'), false)
        or coalesce(recipients.external_shared_users, 0) > 0 as is_shared_outside_workspace,
    coalesce(audit.audit_events, 0) as audit_events,
    audit.event_at as last_audit_event_at,
    audit.action as last_audit_action,
    audit.actor_identifier as last_audit_actor_identifier,
    audit.actor_email as last_audit_actor_email,
    audit.event_id as last_audit_event_id,
    objects.synced_at,
    {{ openai_compliance.transformed_at() }} as _transformed_at
from {{ objects }} as objects
left join {{ ref('stg_users') }} as owners
    on owners.user_id = objects.owner_user_id
left join recipients
    on recipients.shared_id = objects.{{ id_column }}
left join audit
    on audit.{{ id_column }} = objects.{{ id_column }}
    and audit.recency = 1
{%- endmacro %}
