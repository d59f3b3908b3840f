"""The providers: one module per cloud (imported only when enabled), the table of
clouds (``registry.py``), the HTTP client (``http.py``) and the contract (``base.py``)."""
