{#-
  The rows a staging model merges: one per event_id, the copy of the log file that ended last
  (ties broken by the larger log file id), from the loaded table `table` of source
  openai_compliance.

  `columns` maps each event field the model reads, beyond the envelope, to its kind: text, json,
  json_array (PostgreSQL's jsonb[]), timestamp, number or boolean. A field is read from its own
  column, or else from _sdc_unknown_fields, where the tap keeps the fields its schemas do not
  declare yet (older rows keep a field there after a newer schema gives it a column: both are
  read). A table that does not exist yet, or a column the load left out (the masked extractor
  drops some), reads as NULL, so every model builds whatever was loaded.

  Run incrementally, only rows of log files that ended at most `lookback_days` before the newest
  one modelled (or before now, should a file claim to end in the future) are read, and of those only events that are new or whose copy is newer than the
  one modelled: a second load of the same files changes nothing, a late file lands.
-#}
{% macro latest_events(table, columns={}) -%}
  {%- set relation = source('openai_compliance', table) -%}
  {%- set envelope = ['event_id', 'type', 'timestamp', 'principal', 'actor', '_sdc_log_file_id',
      '_sdc_log_file_end_time', '_sdc_unknown_fields'] -%}
  {%- set found = openai_compliance.loaded_columns(relation, envelope + (columns.keys() | list)) -%}
  {%- set present = found if found is not none else {} -%}
  {%- set unknown = '_sdc_unknown_fields' in present -%}
  with loaded as (
    select
      {{ openai_compliance._field('event_id', 'text', present, false) }} as event_id,
      {{ openai_compliance._field('type', 'text', present, false) }} as envelope_type,
      {{ openai_compliance.utc_timestamp(openai_compliance._field('timestamp', 'timestamp', present, false)) }} as event_at,
      cast({{ openai_compliance._field('timestamp', 'timestamp', present, false) }} as date) as event_date,
      {{ openai_compliance._field('principal', 'json', present, false) }} as principal,
      {{ openai_compliance._field('actor', 'json', present, false) }} as actor,
      {{ openai_compliance._field('_sdc_log_file_id', 'text', present, false) }} as log_file_id,
      {{ openai_compliance.utc_timestamp(openai_compliance._field('_sdc_log_file_end_time', 'timestamp', present, false)) }} as log_file_end_time,
      {%- for name, kind in columns.items() %}
      {{ openai_compliance._field(name, kind, present, unknown) }} as {{ name }},
      {%- endfor %}
      {% if unknown -%}
      case when {{ openai_compliance.loaded_column('_sdc_unknown_fields') }} is not null
        then {{ openai_compliance.json_without(openai_compliance.loaded_column('_sdc_unknown_fields'), columns.keys() | list) }}
      end
      {%- else -%}
      {{ openai_compliance.typed_null('json') }}
      {%- endif %} as unknown_fields
    {% if found is not none -%}
    from {{ relation }}
    {%- if is_incremental() %}
    where {{ openai_compliance.loaded_column('_sdc_log_file_end_time') }} >= (
      select coalesce(
        {{ dbt.dateadd('day', -1 * var('lookback_days'), openai_compliance.utc_wall_clock(
            'least(max(log_file_end_time), ' ~ dbt.current_timestamp() ~ ')')) }},
        cast('1970-01-01' as {{ dbt.type_timestamp() }}))
      from {{ this }})
    {%- endif %}
    {%- else -%}
    {#- Not loaded yet: no rows, the same columns. -#}
    from (select 1 as nothing) as not_loaded_yet
    where 1 = 0
    {%- endif %}
  ),

  latest as (
    {{ openai_compliance.latest_copy('loaded') }}
  )

  select latest.*
  from latest
  {%- if is_incremental() %}
  left join {{ this }} as modelled
    on modelled.event_id = latest.event_id
  where modelled.event_id is null
    or latest.log_file_end_time > modelled.log_file_end_time
    or (latest.log_file_end_time = modelled.log_file_end_time
      and latest.log_file_id > modelled.log_file_id)
  {%- endif %}
{%- endmacro %}


{#- One row per event_id: the copy from the log file that ended last, then the larger file id. -#}
{% macro latest_copy(relation) -%}
  {{ return(adapter.dispatch('latest_copy', 'openai_compliance')(relation)) }}
{%- endmacro %}

{% macro default__latest_copy(relation) -%}
  select distinct on (event_id) *
  from {{ relation }}
  order by event_id, log_file_end_time desc nulls last, log_file_id desc nulls last
{%- endmacro %}

{% macro snowflake__latest_copy(relation) -%}
  select *
  from {{ relation }}
  qualify row_number() over (
    partition by event_id
    order by log_file_end_time desc nulls last, log_file_id desc nulls last) = 1
{%- endmacro %}


{#-
  The columns of a relation by lower-case name, or none when it does not exist (offline, the
  `expected` ones: see is_incremental in sources.sql).
-#}
{% macro loaded_columns(relation, expected=[]) -%}
  {%- if not execute -%}
    {{ return({}) }}
  {%- endif -%}
  {%- if var('compile_offline', false) -%}
    {%- set assumed = {} -%}
    {%- for name in expected -%}{%- do assumed.update({name: 'json'}) -%}{%- endfor -%}
    {{ return(assumed) }}
  {%- endif -%}
  {%- set existing = adapter.get_relation(
      database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
  {%- if existing is none -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set names = {} -%}
  {%- for column in adapter.get_columns_in_relation(existing) -%}
    {%- do names.update({column.name | lower: column.data_type}) -%}
  {%- endfor -%}
  {{ return(names) }}
{%- endmacro %}


{#- A field of the loaded table as its kind: its column, _sdc_unknown_fields, or NULL. -#}
{% macro _field(name, kind, present, unknown) -%}
  {%- set column = openai_compliance.loaded_column(name) -%}
  {%- set parts = [] -%}
  {%- if name in present -%}
    {%- if kind == 'json' -%}
      {%- do parts.append(openai_compliance.json_column(column)) -%}
    {%- elif kind == 'json_array' -%}
      {%- do parts.append(openai_compliance.json_array_column(column, present[name])) -%}
    {%- else -%}
      {%- do parts.append(column) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if unknown -%}
    {%- set loose = openai_compliance.loaded_column('_sdc_unknown_fields') -%}
    {%- if kind in ('json', 'json_array') -%}
      {%- do parts.append(openai_compliance.json_get(loose, name)) -%}
    {%- elif kind == 'number' -%}
      {%- do parts.append(openai_compliance.json_number(loose, name)) -%}
    {%- elif kind == 'boolean' -%}
      {%- do parts.append(openai_compliance.json_boolean(loose, name)) -%}
    {%- elif kind == 'text' -%}
      {%- do parts.append(openai_compliance.json_text(loose, name)) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if parts | length == 0 -%}
    {{ openai_compliance.typed_null('json' if kind == 'json_array' else kind) }}
  {%- elif parts | length == 1 -%}
    {{ parts[0] }}
  {%- else -%}
    coalesce({{ parts | join(', ') }})
  {%- endif -%}
{%- endmacro %}


{#- A JSON column, its JSON null as SQL NULL (target-postgres stores a missing object as 'null'). -#}
{% macro json_column(column) -%}
  {{ return(adapter.dispatch('json_column', 'openai_compliance')(column)) }}
{%- endmacro %}
{% macro default__json_column(column) %}nullif({{ column }}, 'null'::jsonb){% endmacro %}
{% macro snowflake__json_column(column) %}strip_null_value({{ column }}){% endmacro %}


{#- A top-level array of objects as one JSON array (target-postgres loads it as jsonb[]). -#}
{% macro json_array_column(column, data_type) -%}
  {{ return(adapter.dispatch('json_array_column', 'openai_compliance')(column, data_type)) }}
{%- endmacro %}

{% macro default__json_array_column(column, data_type) -%}
  {%- if data_type | lower in ('array', 'jsonb[]', 'json[]', '_jsonb', '_json') -%}
    to_jsonb({{ column }})
  {%- else -%}
    nullif({{ column }}::jsonb, 'null'::jsonb)
  {%- endif -%}
{%- endmacro %}

{% macro snowflake__json_array_column(column, data_type) -%}
  strip_null_value({{ column }})
{%- endmacro %}
