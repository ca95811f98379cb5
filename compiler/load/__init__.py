"""Load stage. In: a file's bytes. Out: a `Document` (JSON-like data plus the line and column of
every value), or diagnostics saying why the bytes are not a YAML document envc accepts.
"""
