"""envc: a declarative, GitOps-style compiler for ML/data environments."""

__version__ = "0.1.0"
