"""The CI job. In: a repository and two git revisions. Out: one report of every stage run in order
(validate, lock check, plan, render; on main also build and register) and a Markdown summary.
"""
