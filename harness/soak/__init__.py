"""The seeded soak's engine: bench/soak.py runs it long, tests/e2e/test_soak.py short."""
