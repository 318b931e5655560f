"""insession dataflows (Bytewax wiring only)."""
