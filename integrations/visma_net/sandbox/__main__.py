import sys

from integrations.visma_net.sandbox.server import main

sys.exit(main())
