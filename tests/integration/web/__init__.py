"""Cross-cutting web behaviour: headers, errors, limits, health, migrations."""
