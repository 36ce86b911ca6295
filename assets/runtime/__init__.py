"""How runs are launched and waited on: pool wait, reaping, range runs, failure lines."""
