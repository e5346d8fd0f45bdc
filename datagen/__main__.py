from __future__ import annotations

from datagen.cli import main

raise SystemExit(main())
