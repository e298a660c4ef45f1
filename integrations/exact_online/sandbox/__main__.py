import sys

from integrations.exact_online.sandbox.server import main

sys.exit(main())
