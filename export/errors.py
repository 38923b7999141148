"""Typed errors of the export side: importing weights and validating exported graphs."""

from __future__ import annotations


class ModelImportError(ValueError):
    """Base for weight-import problems (unknown, missing or mis-shaped tensors)."""


class UnknownTensorError(ModelImportError):
    """A tensor in the source maps to no parameter of the model."""


class MissingTensorError(ModelImportError):
    """A parameter of the model has no tensor in the source."""


class TensorShapeError(ModelImportError):
    """A tensor maps to a parameter of a different shape."""


class UnsupportedConfigError(ModelImportError):
    """A model config uses a variant voxport cannot export (named in the message)."""


class ExportValidationError(AssertionError):
    """An exported graph does not reproduce the torch module."""


class OutputNameMismatch(ExportValidationError):
    pass


class OutputShapeMismatch(ExportValidationError):
    pass


class OutputValueMismatch(ExportValidationError):
    pass


class ForbiddenOpError(ExportValidationError):
    """The graph holds a random or data-dependent-shape operator that edge compilers reject."""
