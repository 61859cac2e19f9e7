from facekd.cli import main

raise SystemExit(main())
