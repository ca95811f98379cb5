"""The command line, one module per command: each parses its options, calls the stages, prints
and returns an exit code. Only this package and `compiler.cli` import click.
"""
