"""Audit stage: the committed locks -> findings against a vulnerability advisory database.

In: the valid manifests and their lockfiles, and advisories in the OSV format (advisories.py).
Out: one finding per environment, locked package version and advisory (scan.py), printed by
`envc audit` as text, JSON, SARIF, GitHub annotations or Markdown (report.py). Nothing is
solved or downloaded.
"""
