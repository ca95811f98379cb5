"""Render and hash stages. In: a resolved, locked environment. Out: its build context (a Dockerfile
or install scripts from sandboxed Jinja templates, the lockfiles, `envc-build.json`) and its content
address; written into `build/` atomically, or compared with what is there.
"""
