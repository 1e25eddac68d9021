{#-
  The current rows of a stateful table (users, GPTs, projects...: docs/tables.md), one per key.

  The tap reads these tables whole at every sync and ends each with ACTIVATE_VERSION: the
  loader then marks the rows the API no longer lists (target-postgres sets _sdc_deleted_at,
  or deletes them with hard_delete). Those rows are left out here: a staging model of a
  stateful table is the workspace as the API answers it now. The loaded table keeps a deleted
  row (with its _sdc_deleted_at) for whoever needs the past: who owned a GPT since deleted.

  `keys` are the table's primary key columns (the parents' ids first: docs/tables.md);
  `columns` maps each further field the model reads to its kind, as latest_events does: a field
  is read from its column, or else from _sdc_unknown_fields, and a table not loaded (a key
  without the scope, a load that skipped it, a table not selected) or a column the load left
  out (the masked extractor drops names and text) reads as NULL, so every model builds. Where
  a loader kept several copies of a key, the one of the newest table version (then the latest
  in the load) wins.

  Besides the keys and columns: synced_at, when the loader last wrote the row (the sync that
  last listed it, _sdc_batched_at, UTC).
-#}
{% macro current_rows(table, keys, columns={}) -%}
  {%- set relation = source('openai_compliance', table) -%}
  {%- set metadata = ['_sdc_deleted_at', '_sdc_table_version', '_sdc_sequence', '_sdc_batched_at',
      '_sdc_unknown_fields'] -%}
  {%- set found = openai_compliance.loaded_columns(relation, keys + (columns.keys() | list) + metadata) -%}
  {%- set present = found if found is not none else {} -%}
  {%- set unknown = '_sdc_unknown_fields' in present -%}
  with loaded as (
    select
      {%- for key in keys %}
      {{ openai_compliance._field(key, 'text', present, false) }} as {{ key }},
      {%- endfor %}
      {%- for name, kind in columns.items() %}
      {{ openai_compliance._field(name, kind, present, unknown) }} as {{ name }},
      {%- endfor %}
      {{ openai_compliance.utc_timestamp(openai_compliance._field('_sdc_batched_at', 'timestamp', present, false)) }} as synced_at,
      {{ openai_compliance._field('_sdc_table_version', 'number', present, false) }} as table_version,
      {{ openai_compliance._field('_sdc_sequence', 'number', present, false) }} as load_sequence
    {% if found is not none -%}
    from {{ relation }}
    where
      {%- for key in keys %}
      {{ openai_compliance._field(key, 'text', present, false) }} is not null and
      {%- endfor %}
      {% if '_sdc_deleted_at' in present -%}
      {{ openai_compliance.loaded_column('_sdc_deleted_at') }} is null
      {%- else -%}
      1 = 1
      {%- endif %}
    {%- else -%}
    {#- Not loaded: no rows, the same columns. -#}
    from (select 1 as nothing) as not_loaded
    where 1 = 0
    {%- endif %}
  )

  {{ openai_compliance.latest_by_key('loaded', keys,
      ['table_version desc nulls last', 'load_sequence desc nulls last', 'synced_at desc nulls last']) }}
{%- endmacro %}


{#- One row per `keys` of `relation`: the first by `order` (a list of order-by terms). -#}
{% macro latest_by_key(relation, keys, order) -%}
  {{ return(adapter.dispatch('latest_by_key', 'openai_compliance')(relation, keys, order)) }}
{%- endmacro %}

{% macro default__latest_by_key(relation, keys, order) -%}
  select distinct on ({{ keys | join(', ') }}) *
  from {{ relation }}
  order by {{ keys | join(', ') }}, {{ order | join(', ') }}
{%- endmacro %}

{% macro snowflake__latest_by_key(relation, keys, order) -%}
  select *
  from {{ relation }}
  qualify row_number() over (partition by {{ keys | join(', ') }} order by {{ order | join(', ') }}) = 1
{%- endmacro %}
