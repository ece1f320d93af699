"""``python -m medicaid_assets.cli``: the same as the ``medicaid-assets`` command."""

from medicaid_assets.cli import main

raise SystemExit(main())
