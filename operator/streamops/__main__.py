from streamops.cli.streamops_command import main

raise SystemExit(main())
