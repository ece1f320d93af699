{# The seven FFS claim types, and where each spells its provider, line number and line payment. #}
{% macro claim_types() -%}
{{ return({
  'carrier':    {'npi': 'CARR_CLM_BLG_NPI_NUM', 'line': 'LINE_NUM',     'line_paid': 'LINE_NCH_PMT_AMT'},
  'dme':        {'npi': 'PRVDR_NPI',            'line': 'LINE_NUM',     'line_paid': 'LINE_NCH_PMT_AMT'},
  'inpatient':  {'npi': 'ORG_NPI_NUM',          'line': 'CLM_LINE_NUM', 'line_paid': 'NULL'},
  'outpatient': {'npi': 'ORG_NPI_NUM',          'line': 'CLM_LINE_NUM', 'line_paid': 'REV_CNTR_PMT_AMT_AMT'},
  'snf':        {'npi': 'ORG_NPI_NUM',          'line': 'CLM_LINE_NUM', 'line_paid': 'NULL'},
  'hha':        {'npi': 'ORG_NPI_NUM',          'line': 'CLM_LINE_NUM', 'line_paid': 'REV_CNTR_PMT_AMT_AMT'},
  'hospice':    {'npi': 'ORG_NPI_NUM',          'line': 'CLM_LINE_NUM', 'line_paid': 'REV_CNTR_PMT_AMT_AMT'},
}) }}
{%- endmacro %}

{# The shared NPPES provider table (schema main) when the reference family has built it, else none. #}
{% macro nppes_providers_relation() -%}
{{ return(adapter.get_relation(database=target.database, schema='main', identifier='nppes_providers')) }}
{%- endmacro %}

{# The landed parquet of one file type (every year), as the Dagster landing wrote it: <type>/year=YYYY/*.parquet.
   A model reading it also names source('release', 'landed') in a depends_on comment, for the lineage. #}
{% macro landed(file_type) -%}
read_parquet('{{ var("landed_dir") }}/{{ file_type }}/*/*.parquet', hive_partitioning = true, union_by_name = true)
{%- endmacro %}
