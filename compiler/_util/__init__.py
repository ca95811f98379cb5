"""Helpers every stage may use, and which use no stage: envc's packaged data files, the
`.envc/cache/` files, atomic writes, the real `git`, `${VAR}` credentials, progress reporting.
"""
