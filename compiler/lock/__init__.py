"""Lock stage. In: a resolved `Manifest`. Out: `LockInputs` (canonical, fingerprinted) and the
lockfiles solved from them (conda with py-rattler's solver, pip with uv's resolver), written beside
the manifest; or, without solving, why a committed lock is stale.
"""
