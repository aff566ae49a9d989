"""``python -m ironframe_py``: the ``ironframe`` command."""

from .cli import main

raise SystemExit(main())
