from local_gateway.runner import main

raise SystemExit(main())
