{#- Types, time and aggregates written once for PostgreSQL and Snowflake. -#}

{% macro type_json() -%}
  {{ return(adapter.dispatch('type_json', 'openai_compliance')()) }}
{%- endmacro %}
{% macro default__type_json() %}jsonb{% endmacro %}
{% macro snowflake__type_json() %}variant{% endmacro %}

{% macro type_timestamp_tz() -%}
  {{ return(adapter.dispatch('type_timestamp_tz', 'openai_compliance')()) }}
{%- endmacro %}
{% macro default__type_timestamp_tz() %}timestamp with time zone{% endmacro %}
{% macro snowflake__type_timestamp_tz() %}timestamp_tz{% endmacro %}


{#-
  A column of the loaded tables by name. target-postgres keeps names as the tap wrote them
  (lower case; "timestamp" needs quoting); target-snowflake's are upper case.
-#}
{% macro loaded_column(name) -%}
  {{ return(adapter.dispatch('loaded_column', 'openai_compliance')(name)) }}
{%- endmacro %}
{% macro default__loaded_column(name) %}"{{ name }}"{% endmacro %}
{% macro snowflake__loaded_column(name) %}"{{ name | upper }}"{% endmacro %}


{#-
  A date-time the loaders store without a time zone (in UTC, as the tap sends it) as a
  timestamp with time zone. Never cast one directly: the session's time zone would be assumed.
-#}
{% macro utc_timestamp(expression) -%}
  {{ return(adapter.dispatch('utc_timestamp', 'openai_compliance')(expression)) }}
{%- endmacro %}

{% macro default__utc_timestamp(expression) -%}
  ({{ expression }} at time zone 'UTC')
{%- endmacro %}

{% macro snowflake__utc_timestamp(expression) -%}
  timestamp_tz_from_parts(year({{ expression }}), month({{ expression }}), day({{ expression }}),
    hour({{ expression }}), minute({{ expression }}), second({{ expression }}),
    nanosecond({{ expression }}), 'UTC')
{%- endmacro %}


{#- The other way: a timestamp with time zone as a UTC date-time without one. -#}
{% macro utc_wall_clock(expression) -%}
  {{ return(adapter.dispatch('utc_wall_clock', 'openai_compliance')(expression)) }}
{%- endmacro %}

{% macro default__utc_wall_clock(expression) -%}
  ({{ expression }} at time zone 'UTC')
{%- endmacro %}

{% macro snowflake__utc_wall_clock(expression) -%}
  convert_timezone('UTC', {{ expression }})::timestamp_ntz
{%- endmacro %}


{#- The day, in UTC, of a timestamp with time zone. -#}
{% macro utc_date(expression) -%}
  cast({{ openai_compliance.utc_wall_clock(expression) }} as date)
{%- endmacro %}


{#- When this dbt invocation started: every row a run writes carries the same value. -#}
{% macro transformed_at() -%}
  cast('{{ run_started_at.strftime("%Y-%m-%dT%H:%M:%S.%f") }}+00:00' as {{ openai_compliance.type_timestamp_tz() }})
{%- endmacro %}


{#- The distinct non-null values of a group, sorted, as an array. -#}
{% macro distinct_list(expression) -%}
  {{ return(adapter.dispatch('distinct_list', 'openai_compliance')(expression)) }}
{%- endmacro %}

{% macro default__distinct_list(expression) -%}
  array_agg(distinct {{ expression }} order by {{ expression }}) filter (where {{ expression }} is not null)
{%- endmacro %}

{% macro snowflake__distinct_list(expression) -%}
  array_agg(distinct {{ expression }}) within group (order by {{ expression }})
{%- endmacro %}


{#- A typed NULL of a kind the staging models read: text, json, timestamp, number, boolean. -#}
{% macro typed_null(kind) -%}
  {%- if kind == 'json' -%} cast(null as {{ openai_compliance.type_json() }})
  {%- elif kind == 'timestamp' -%} cast(null as {{ dbt.type_timestamp() }})
  {%- elif kind == 'number' -%} cast(null as {{ dbt.type_numeric() }})
  {%- elif kind == 'boolean' -%} cast(null as {{ dbt.type_boolean() }})
  {%- else -%} cast(null as {{ dbt.type_string() }})
  {%- endif -%}
{%- endmacro %}


{#- Whether a whole text matches a regular expression (POSIX-like: no lookarounds). -#}
{% macro matches(expression, pattern) -%}
  {{ return(adapter.dispatch('matches', 'openai_compliance')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches(expression, pattern) -%}
  ({{ expression }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}

{% macro snowflake__matches(expression, pattern) -%}
  regexp_like({{ expression }}, $${{ pattern }}$$, 's')
{%- endmacro %}


{#- A whole row as one text, every column included. -#}
{% macro row_as_text(alias) -%}
  {{ return(adapter.dispatch('row_as_text', 'openai_compliance')(alias)) }}
{%- endmacro %}

{% macro default__row_as_text(alias) -%}
  cast({{ alias }} as text)
{%- endmacro %}

{% macro snowflake__row_as_text(alias) -%}
  to_varchar(object_construct_keep_null({{ alias }}.*))
{%- endmacro %}


{#- A Unix time in seconds (a number, fractions kept to the millisecond) as a timestamp with time zone. -#}
{% macro epoch_timestamp(expression) -%}
  {{ return(adapter.dispatch('epoch_timestamp', 'openai_compliance')(expression)) }}
{%- endmacro %}

{% macro default__epoch_timestamp(expression) -%}
  to_timestamp(cast({{ expression }} as double precision))
{%- endmacro %}

{% macro snowflake__epoch_timestamp(expression) -%}
  to_timestamp_tz(cast(round({{ expression }} * 1000) as number(38, 0)), 3)
{%- endmacro %}
