"""Install stage. In: a locked environment. Out: the environment itself in a prefix on this
machine (conda packages with py-rattler's installer, pip packages with uv), its variables where
activation finds them, and the process environment to run commands in it.
"""
