from repwatch.cli import run_cli

run_cli()
