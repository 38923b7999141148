"""A voice on disk: the bundle directory (manifest + graph files), its manifest's fields, the stage
contract the graphs follow, and where the default voice is cached.

    from voxport.bundle import Bundle
    bundle = Bundle.load("path/to/bundle")   # validated, hashes verified
"""

from voxport.bundle.directory import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Bundle,
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleNotFoundError,
    BundlePathError,
    BundleVersionError,
    GraphEntry,
    GraphVariant,
    Manifest,
    MissingStageError,
    MissingVariantError,
    describe_graph_file,
    sha256_file,
    write_manifest,
)

__all__ = [
    "FORMAT_VERSION", "MANIFEST_NAME", "Bundle", "BundleError", "BundleFormatError", "BundleIntegrityError",
    "BundleNotFoundError", "BundlePathError", "BundleVersionError", "GraphEntry", "GraphVariant", "Manifest",
    "MissingStageError", "MissingVariantError", "describe_graph_file", "sha256_file", "write_manifest",
]
