from lockgen.process import run

run()
