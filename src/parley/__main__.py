from parley.cli.main import run

run()
