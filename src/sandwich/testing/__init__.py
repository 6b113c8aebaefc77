"""Helpers for tests and benchmarks (not used by the library itself): a throwaway
PostgreSQL server, a synthetic study, the audit of a study database after a load test."""
