"""Pure functions the flows wire together: state in, event in, new state and outputs out."""
