import sys

from trivision.cli import main

sys.exit(main())
