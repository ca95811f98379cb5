"""Plan stage. In: two git revisions (and, optionally, a registry lookup). Out: a `Plan`: each
environment added, changed (with reasons), reused, removed or unchanged, by content address; as a
table, Markdown, JSON, a GitHub Actions matrix or a `docker buildx bake` file.
"""
