import sys

from bench.quality.run import cli

sys.exit(cli())
