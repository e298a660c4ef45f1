import sys

from integrations.twinfield.sandbox.server import main

sys.exit(main())
