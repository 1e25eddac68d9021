-- APP_LOG of the workspace: calls into apps (connectors) and their answers, one row per event.
{{ app_log_events('app_log', 'workspace') }}
