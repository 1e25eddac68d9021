-- APP_LOG of the API Platform organization (loaded as app_organization_log), one row per event.
{{ app_log_events('app_organization_log', 'organization') }}
