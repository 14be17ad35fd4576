from edgeprof.cli import run

run()
