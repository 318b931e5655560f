"""`python -m insession.cli`: the same as the `insession` command."""

from insession.cli import main

raise SystemExit(main())
