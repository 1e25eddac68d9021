{#-
  Models downstream of the staging models read only what changed: every row a run writes
  carries the run's start time (_transformed_at), so the rows a model has not seen yet are
  those newer than the newest it holds.
-#}

{#- A condition on `column` (_transformed_at) of a model upstream: rows written since this model last built. -#}
{% macro changed_since_last_build(column='_transformed_at') -%}
  {%- if is_incremental() -%}
    {{ column }} > (
      select coalesce(max(_transformed_at), cast('1970-01-01T00:00:00+00:00' as {{ openai_compliance.type_timestamp_tz() }}))
      from {{ this }})
  {%- else -%}
    1 = 1
  {%- endif -%}
{%- endmacro %}


{#-
  A condition for daily models (built with delete+insert on the day): the days of `upstream`
  that hold a row changed since this model last built, every row of those days included, so
  each such day is computed again whole.
-#}
{% macro days_changed_since_last_build(upstream, day_column='event_date') -%}
  {%- if is_incremental() -%}
    {{ day_column }} in (
      select distinct {{ day_column }}
      from {{ upstream }}
      where {{ openai_compliance.changed_since_last_build() }})
  {%- else -%}
    1 = 1
  {%- endif -%}
{%- endmacro %}
