import sys

from roots.commands import main

sys.exit(main())
