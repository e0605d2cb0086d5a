import sys

from aiodurable.cli import main

sys.exit(main())
