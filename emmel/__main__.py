import sys

from emmel.cli import main

sys.exit(main())
