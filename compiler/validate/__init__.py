"""Validate stage. In: a repository root and the files to check. Out: a `ValidationReport`:
diagnostics (`path:line:col`, a rule id) and every valid manifest's data and folder, for the stages
after. JSON Schema, package specs, referenced files, rules within one file and across the
repository; reporters print diagnostics as text, JSON or GitHub annotations.
"""
