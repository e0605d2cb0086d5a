"""Functions the process tests run in their own processes (awslambdaric, the Invoke shim)."""
