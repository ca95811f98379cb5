"""What a manifest is. In: a manifest's data (validated), or the repository's `envc.yaml`.
Out: frozen pydantic models (`Manifest`, the source of the JSON Schema), `extends` merged
(`resolve`), and the repository's settings (`RepositoryConfig`). The string patterns of the format
and the `extends` merge are plain data, shared with validation (which must not import pydantic).
"""
