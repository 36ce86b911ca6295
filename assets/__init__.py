"""Dagster code location for orderflow-pipeline: thin assets over `orderflow_pipeline`."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and partitioned asset checks are deliberate choices (SPEC §12); their beta/preview
# labels would otherwise repeat on every load and run.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
