from lockgen.cli import run

run()
