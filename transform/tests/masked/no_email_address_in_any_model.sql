-- A masked load (build-masked: --vars '{masked: true}') hashed every email address the tap knows
-- of: no model may hold one, in any column. Rows returned are the models holding one, with a
-- count; a new field the API adds with an address in it shows up here.
{{ config(enabled=var('masked', false), severity='error') }}

{%- set models = [
    'stg_auth_log', 'stg_audit_log', 'stg_app_log', 'stg_app_auth_log',
    'stg_app_organization_log', 'stg_app_auth_organization_log', 'stg_codex_log',
    'stg_codex_security_log', 'stg_custom_agents_log', 'stg_conversation_message',
    'stg_chatgpt_plugin_spreadsheet', 'stg_costs', 'stg_costs_billing',
    'compliance_events', 'sign_ins_daily', 'failed_sign_ins', 'admin_actions',
    'admin_actions_daily', 'app_authorizations', 'app_links', 'conversation_activity_daily',
    'codex_activity_daily', 'costs_daily', 'stg_users', 'stg_gpts', 'stg_gpt_configs',
    'stg_gpt_shared_users', 'stg_projects', 'stg_project_shared_users', 'user_activity',
    'sharing_recipients', 'gpt_sharing', 'project_sharing',
] %}

{% for model in models %}
select '{{ model }}' as model, count(*) as rows_with_an_email_address
from {{ ref(model) }} as modelled
where {{ matches(row_as_text('modelled'), '.*[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+[.][A-Za-z0-9.-]+.*') }}
having count(*) > 0
{% if not loop.last %}union all{% endif %}
{% endfor %}
