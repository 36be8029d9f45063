"""Quality: validation rules, quarantine, quality scores and gaps; pure, no database."""
