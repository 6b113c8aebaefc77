"""The study web app (FastAPI): rater pages, the researcher dashboard, security,
and serving it (importing this package loads no web framework)."""
