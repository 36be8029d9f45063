"""Quality: validation rules, quality scores, gaps and integrity checks."""
