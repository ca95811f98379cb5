"""Build stage. In: rendered build contexts. Out: images built with buildah (one failure does not
stop the others), optionally pushed, with their digests.
"""
