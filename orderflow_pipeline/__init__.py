"""orderflow-pipeline: the IDX order-flow scanner's domain core.

Pure Python: nothing in this package imports Dagster, so the CLI, the API, the
benchmarks and the Dagster assets all call the same functions.
"""

__version__ = "0.1.0"
