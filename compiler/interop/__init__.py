"""Import and export, beside the pipeline. In: environments as other tools define them (conda
files and prefixes, pip requirements, pixi and pyproject.toml, Azure ML v1/v2 and azureml-assets).
Out: manifests (with notes of what was not carried); and, the other way, resolved manifests and
their locks as those tools' formats.
"""
