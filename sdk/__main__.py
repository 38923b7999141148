from voxport.cli import main

raise SystemExit(main())
