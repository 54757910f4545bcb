from capflow.cli import main

raise SystemExit(main())
