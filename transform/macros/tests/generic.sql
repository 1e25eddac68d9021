{#- The few generic tests the project needs (no dbt packages: the dbt Hub may be unreachable). -#}

{#- Rows that share the values of `combination_of_columns` (NULLs count as equal). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}


{#- Values of `column_name` outside [min_value, max_value]; NULLs pass. -#}
{% test between(model, column_name, min_value, max_value) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
