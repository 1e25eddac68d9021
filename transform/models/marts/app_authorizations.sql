-- Who connected or disconnected which app (connector) credential, when, in the workspace's and
-- the organization's feeds alike (APP_AUTH_LOG), with the app's name as the app logs last gave
-- it.
with authorizations as (
    select
        event_id, event_at, event_date, scope, principal_id, actor_identifier, actor_user_id,
        actor_email, auth_action, app_id, link_id, log_file_id
    from {{ ref('stg_app_auth_log') }}
    union all
    select
        event_id, event_at, event_date, scope, principal_id, actor_identifier, actor_user_id,
        actor_email, auth_action, app_id, link_id, log_file_id
    from {{ ref('stg_app_auth_organization_log') }}
),

app_calls as (
    select scope, principal_id, app_id, app_name, app_type, event_at
    from {{ ref('stg_app_log') }}
    union all
    select scope, principal_id, app_id, app_name, app_type, event_at
    from {{ ref('stg_app_organization_log') }}
),

app_names as (
    select scope, principal_id, app_id, app_name, app_type
    from (
        select
            app_calls.*,
            row_number() over (
                partition by scope, principal_id, app_id order by event_at desc) as recency
        from app_calls
        where app_id is not null and app_name is not null
    ) as named
    where recency = 1
)

select
    authorizations.event_id,
    authorizations.event_at,
    authorizations.event_date,
    authorizations.scope,
    authorizations.principal_id,
    authorizations.actor_identifier,
    authorizations.actor_user_id as user_id,
    authorizations.actor_email as user_email,
    authorizations.auth_action,
    authorizations.app_id,
    app_names.app_name,
    app_names.app_type,
    authorizations.link_id,
    authorizations.log_file_id
from authorizations
left join app_names
    on app_names.scope = authorizations.scope
    and app_names.principal_id = authorizations.principal_id
    and app_names.app_id = authorizations.app_id
