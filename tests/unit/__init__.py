"""Unit tests of the domain layer and helpers."""
