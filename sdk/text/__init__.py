"""Text front-end: normalization and sentence splitting."""
