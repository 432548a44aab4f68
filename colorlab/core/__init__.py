"""What every command and room shares: one error style, the config directory and checked settings,
atomic files, threads, provenance, LAB conversion, and the typed allow-list for stored data."""
