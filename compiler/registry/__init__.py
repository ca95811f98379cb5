"""Register stage. In: the repository's head state (rendered, content-addressed). Out: registry
versions, behind one `Registry` protocol: SQLite embedded in `.envc/`, or an OCI registry shared by
CI runners.
"""
