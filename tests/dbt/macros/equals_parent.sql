{#-
    Denormalized copies: the child's column_name must equal parent_field of the parent row that the child's
    `via` column points at (parent.parent_key = child.via). Returns the child rows where it differs; a NULL on
    one side only counts as a difference. Children whose parent is missing are not returned (that is the
    relationships test's job). Column names are quoted, since one raw column is literally "timestamp".

        - equals_parent:
            via: device_id
            to: source('app_database', 'devices')
            parent_key: id
            parent_field: location_id
-#}
{% test equals_parent(model, column_name, via, to, parent_key, parent_field) %}
{%- set col = adapter.quote(column_name | replace('"', '')) -%}
{%- set via_col = adapter.quote(via | replace('"', '')) -%}
{%- set key_col = adapter.quote(parent_key | replace('"', '')) -%}
{%- set field_col = adapter.quote(parent_field | replace('"', '')) -%}

select child.*
from {{ model }} as child
inner join {{ to }} as parent
    on parent.{{ key_col }} = child.{{ via_col }}
where child.{{ col }} is distinct from parent.{{ field_col }}

{% endtest %}
