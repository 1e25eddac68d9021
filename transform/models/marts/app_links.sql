-- Which app credentials are linked now, by whom, since when: each link's last link or unlink.
{{ config(materialized='view') }}

select
    scope,
    principal_id,
    link_id,
    app_id,
    app_name,
    user_id,
    user_email,
    auth_action = 'link' as is_linked,
    first_linked_at,
    event_at as last_changed_at
from (
    select
        app_authorizations.*,
        min(case when auth_action = 'link' then event_at end) over (
            partition by scope, principal_id, link_id) as first_linked_at,
        row_number() over (
            partition by scope, principal_id, link_id order by event_at desc, event_id desc) as recency
    from {{ ref('app_authorizations') }} as app_authorizations
    where link_id is not null
) as changes
where recency = 1
