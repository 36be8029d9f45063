"""Sources: one module per external source; the only code that knows wire formats."""
