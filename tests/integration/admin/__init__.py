"""The admin console and the operator commands."""
