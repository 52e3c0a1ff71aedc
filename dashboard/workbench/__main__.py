"""`python -m dashboard.workbench [--pseudonyms N] WAREHOUSE...`: print the workbench's benchmark figures."""

from dashboard.workbench.bench import main

raise SystemExit(main())
