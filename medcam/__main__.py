"""``python -m medcam`` runs the command line."""

from medcam.cli import main

raise SystemExit(main())
