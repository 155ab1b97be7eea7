import sys

from engagement_cli.commands import main

sys.exit(main())
