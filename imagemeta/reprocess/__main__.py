from imagemeta.reprocess.cli import main

raise SystemExit(main())
