{#-
  Freshness of a source table the tap has not loaded yet (a stream it does not sync yet, or an
  event type the key cannot read) reads as a load in 1970: `dbt source freshness` warns about
  it, as it would about a stream that stopped, instead of failing on a missing relation.
  Otherwise dbt's own query.
-#}
{% macro default__collect_freshness(source, loaded_at_field, filter) -%}
  {%- set existing = adapter.get_relation(
      database=source.database, schema=source.schema, identifier=source.identifier) -%}
  {%- call statement('collect_freshness', fetch_result=True, auto_begin=False) -%}
    {%- if existing is none %}
    select
      cast('1970-01-01T00:00:00' as {{ dbt.type_timestamp() }}) as max_loaded_at,
      {{ current_timestamp() }} as snapshotted_at
    {%- else %}
    select
      coalesce(max({{ loaded_at_field }}), cast('1970-01-01T00:00:00' as {{ dbt.type_timestamp() }})) as max_loaded_at,
      {{ current_timestamp() }} as snapshotted_at
    from {{ source }}
    {% if filter %}
    where {{ filter }}
    {% endif %}
    {%- endif %}
  {%- endcall -%}
  {{ return(load_result('collect_freshness')) }}
{%- endmacro %}


{#-
  Run before models are built: a source schema holding none of the tap's tables is a wrong
  setting (DBT_SOURCE_SCHEMA), not a stream not loaded yet, and stops the run instead of
  building empty models.
-#}
{% macro check_loaded_tables() -%}
  {%- if execute and flags.WHICH in ('run', 'build') -%}
    {%- set found = [] -%}
    {%- for node in graph.sources.values() if node.source_name == 'openai_compliance' -%}
      {%- if adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) is not none -%}
        {%- do found.append(node.identifier) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- if found | length == 0 -%}
      {%- set first = graph.sources.values() | first -%}
      {{ exceptions.raise_compiler_error(
          "No table of tap-openai-compliance in schema " ~ first.schema
          ~ ": set DBT_SOURCE_SCHEMA (the loader's schema) and load before building the models.") }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}


{#-
  With --vars '{compile_offline: true}', `dbt compile --no-populate-cache` writes every model's
  SQL without connecting: each model compiles as a first, full build over tables holding every
  column it reads. For reading the SQL of an adapter there is no account for (Snowflake in CI);
  never for building.
-#}
{% macro is_incremental() -%}
  {%- if var('compile_offline', false) -%}
    {{ return(false) }}
  {%- endif -%}
  {{ return(dbt.is_incremental()) }}
{%- endmacro %}
