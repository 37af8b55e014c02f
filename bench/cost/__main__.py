from bench.cost.cli import main

raise SystemExit(main())
