"""Tasks: what a model learns from its windows (next token by default; `classify` here)."""
