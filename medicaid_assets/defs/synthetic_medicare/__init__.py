"""CMS synthetic Medicare release: beneficiaries, seven FFS claim types and Part D events, landed and modelled with dbt."""
