{#-
  Reading the loaded JSON the same way on PostgreSQL (jsonb) and Snowflake (VARIANT).
  A path is a dotted string of object keys, e.g. 'client_ip_details.country', where a number
  is an array's index (from 0), e.g. 'latest_config.data.0.name'. A value that is missing, JSON
  null, or of another JSON type than asked reads as SQL NULL: a malformed event leaves a column
  empty instead of failing the build.
-#}

{#- One step of a path: an object's key, or an array's index. -#}
{% macro _json_step(key) -%}
  {%- if key.isdigit() -%}{{ key }}{%- else -%}'{{ key }}'{%- endif -%}
{%- endmacro %}

{% macro json_get(column, path) -%}
  {{ return(adapter.dispatch('json_get', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_get(column, path) -%}
  nullif({{ column }}{% for key in path.split('.') %} -> {{ openai_compliance._json_step(key) }}{% endfor %}, 'null'::jsonb)
{%- endmacro %}

{% macro snowflake__json_get(column, path) -%}
  strip_null_value({{ column }}{% for key in path.split('.') %}[{{ openai_compliance._json_step(key) }}]{% endfor %})
{%- endmacro %}


{#- The value as text: a string as it is, a number or a boolean as JSON writes it. -#}
{% macro json_text(column, path) -%}
  {{ return(adapter.dispatch('json_text', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
  {%- set keys = path.split('.') -%}
  ({{ column }}{% for key in keys[:-1] %} -> {{ openai_compliance._json_step(key) }}{% endfor %} ->> {{ openai_compliance._json_step(keys[-1]) }})
{%- endmacro %}

{% macro snowflake__json_text(column, path) -%}
  to_varchar({{ openai_compliance.snowflake__json_get(column, path) }})
{%- endmacro %}


{% macro json_number(column, path) -%}
  {{ return(adapter.dispatch('json_number', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_number(column, path) -%}
  case when jsonb_typeof({{ openai_compliance.default__json_get(column, path) }}) = 'number'
    then {{ openai_compliance.default__json_text(column, path) }}::numeric end
{%- endmacro %}

{% macro snowflake__json_number(column, path) -%}
  case when is_decimal({{ openai_compliance.snowflake__json_get(column, path) }})
      or is_double({{ openai_compliance.snowflake__json_get(column, path) }})
      or is_integer({{ openai_compliance.snowflake__json_get(column, path) }})
    then {{ openai_compliance.snowflake__json_get(column, path) }}::number(38, 9) end
{%- endmacro %}


{% macro json_integer(column, path) -%}
  cast({{ openai_compliance.json_number(column, path) }} as {{ dbt.type_bigint() }})
{%- endmacro %}


{% macro json_boolean(column, path) -%}
  {{ return(adapter.dispatch('json_boolean', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_boolean(column, path) -%}
  case when jsonb_typeof({{ openai_compliance.default__json_get(column, path) }}) = 'boolean'
    then {{ openai_compliance.default__json_text(column, path) }}::boolean end
{%- endmacro %}

{% macro snowflake__json_boolean(column, path) -%}
  as_boolean({{ openai_compliance.snowflake__json_get(column, path) }})
{%- endmacro %}


{#- An RFC 3339 string as a timestamp with time zone; anything else reads as NULL. -#}
{% macro json_timestamp(column, path) -%}
  {{ return(adapter.dispatch('json_timestamp', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_timestamp(column, path) -%}
  {%- set text = openai_compliance.default__json_text(column, path) -%}
  case when {{ text }} ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?$'
    then ({{ text }})::timestamptz end
{%- endmacro %}

{% macro snowflake__json_timestamp(column, path) -%}
  try_to_timestamp_tz({{ openai_compliance.snowflake__json_text(column, path) }})
{%- endmacro %}


{#- An epoch in seconds (a number) as a timestamp with time zone. -#}
{% macro json_epoch_seconds(column, path) -%}
  {{ return(adapter.dispatch('json_epoch_seconds', 'openai_compliance')(column, path)) }}
{%- endmacro %}

{% macro default__json_epoch_seconds(column, path) -%}
  to_timestamp({{ openai_compliance.default__json_number(column, path) }})
{%- endmacro %}

{% macro snowflake__json_epoch_seconds(column, path) -%}
  to_timestamp_tz({{ openai_compliance.snowflake__json_number(column, path) }}::number(38, 0))
{%- endmacro %}


{#- How many items a JSON array holds (NULL for anything else): a path in it, or the whole value. -#}
{% macro json_array_length(column, path) -%}
  {{ openai_compliance.json_length(openai_compliance.json_get(column, path)) }}
{%- endmacro %}

{% macro json_length(expression) -%}
  {{ return(adapter.dispatch('json_length', 'openai_compliance')(expression)) }}
{%- endmacro %}

{% macro default__json_length(expression) -%}
  case when jsonb_typeof({{ expression }}) = 'array' then jsonb_array_length({{ expression }}) end
{%- endmacro %}

{% macro snowflake__json_length(expression) -%}
  case when is_array({{ expression }}) then array_size({{ expression }}) end
{%- endmacro %}


{#-
  An object without some keys (dotted paths, one or two levels deep): what people wrote is
  left in the loaded table, never copied into a model. A value that is not an object reads as
  NULL, so that nothing unexpected is copied either.
-#}
{% macro json_without(column, paths) -%}
  {{ return(adapter.dispatch('json_without', 'openai_compliance')(column, paths)) }}
{%- endmacro %}

{% macro default__json_without(column, paths) -%}
  case when jsonb_typeof({{ column }}) = 'object'
    then {{ column }}{% for path in paths %} #- '{ {{- path.split('.') | join(',') -}} }'{% endfor %} end
{%- endmacro %}

{% macro snowflake__json_without(column, paths) -%}
  {%- set expression = namespace(sql=column) -%}
  {%- for path in paths -%}
    {%- set keys = path.split('.') -%}
    {%- if keys | length == 1 -%}
      {%- set expression.sql = "object_delete(" ~ expression.sql ~ ", '" ~ keys[0] ~ "')" -%}
    {%- else -%}
      {%- set inner = expression.sql ~ "['" ~ keys[0] ~ "']" -%}
      {%- set expression.sql = "case when is_object(" ~ inner ~ ") then object_insert(" ~ expression.sql
        ~ ", '" ~ keys[0] ~ "', object_delete(" ~ inner ~ ", '" ~ keys[1] ~ "'), true) else "
        ~ expression.sql ~ " end" -%}
    {%- endif -%}
  {%- endfor -%}
  case when is_object({{ column }}) then {{ expression.sql }} end
{%- endmacro %}


{#- Rows of a JSON array, for a lateral join: `from t {{ json_array_rows('t.col', 'item') }}`. -#}
{% macro json_array_rows(expression, alias) -%}
  {{ return(adapter.dispatch('json_array_rows', 'openai_compliance')(expression, alias)) }}
{%- endmacro %}

{% macro default__json_array_rows(expression, alias) -%}
  cross join lateral jsonb_array_elements(
    case when jsonb_typeof({{ expression }}) = 'array' then {{ expression }} else '[]'::jsonb end
  ) as {{ alias }}(value)
{%- endmacro %}

{% macro snowflake__json_array_rows(expression, alias) -%}
  , lateral flatten(input => case when is_array({{ expression }}) then {{ expression }} end) as {{ alias }}
{%- endmacro %}
