-- APP_AUTH_LOG of the API Platform organization (loaded as app_auth_organization_log).
{{ app_auth_log_events('app_auth_organization_log', 'organization') }}
