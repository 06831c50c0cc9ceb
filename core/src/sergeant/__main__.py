"""``python -m sergeant`` runs the CLI."""

from sergeant.cli import main

raise SystemExit(main())
