"""Pydantic models of every request body and response (all strict: unknown fields are errors)."""
