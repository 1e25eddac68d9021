-- APP_AUTH_LOG of the workspace: app credentials linked and unlinked, one row per event.
{{ app_auth_log_events('app_auth_log', 'workspace') }}
