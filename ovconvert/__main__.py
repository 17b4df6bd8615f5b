import sys

from ovconvert.cli import console_main

sys.exit(console_main())
