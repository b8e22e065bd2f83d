"""``python -m ops.cpu``: build (or load from the cache) the fused CPU filtered_lrelu now; see ``build.main``."""

from .build import main

raise SystemExit(main())
