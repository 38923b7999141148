"""Model families, registered by name (filled in by the family-plugin change)."""
