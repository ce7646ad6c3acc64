"""``python -m hardware.emulator``."""

import sys

from hardware.emulator.app import main

sys.exit(main())
