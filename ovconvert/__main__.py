import sys

from ovconvert.cli import main

sys.exit(main())
