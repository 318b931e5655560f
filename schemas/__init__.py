"""Event contracts: versioned dataclasses, a validating decoder, and JSON Schema documents."""
