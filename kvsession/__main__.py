"""``python -m kvsession``: the same command line as the installed ``kvsession`` script."""

from kvsession.cli import main

main(prog_name="kvsession")
