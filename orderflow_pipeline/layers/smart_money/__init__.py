"""Daily smart-money context from IPOT broker summaries (SPEC §8), one module per job:

- `categories` — the broker-category table: who counts as smart money;
- `broksum` — parse (total: BrokerDay, None, or BroksumError) and render one summary file;
- `plausibility` — the bounds a readable file must also meet (finite, consistent, ngr in [−1, 1]);
- `listing` — which summaries the lake holds; folders that are not tickers;
- `features` — the vectorised 20-session z-scores, states and score (pure);
- `store` — the one owner of the `broker_daily` / `daily_features` SQL and the z_score lake files;
- `build` — `build_daily_features`: sync parsed days, compute, write; bad files quarantined;
- `checks` — the layer's integrity checks for one date (names and severities in checks.REGISTRY, all WARN);
- `errors` — BroksumError, whose message is a rejected file's quarantine reason.

The names other layers use are re-exported here (`from orderflow_pipeline import smart_money;
smart_money.build_daily_features(...)`). Note `smart_money.checks` is the checks *function*; the
module's other names are imported from `orderflow_pipeline.layers.smart_money.checks` directly.
"""

from __future__ import annotations

from orderflow_pipeline.layers.smart_money.broksum import (
    RULES_VERSION,
    BrokerDay,
    parse_broksum,
    parse_digest,
    render_broksum,
)
from orderflow_pipeline.layers.smart_money.build import (
    ASSET,
    LAKE_LOOKBACK_DAYS,
    LAYER,
    DailyFeaturesResult,
    SyncResult,
    build_daily_features,
    features_from_table,
    sync_broker_daily,
)
from orderflow_pipeline.layers.smart_money.categories import (
    CATEGORIES,
    SMART,
    broker_category,
    categories_digest,
    default_categories,
    parse_categories,
)
from orderflow_pipeline.layers.smart_money.checks import checks, traded_tickers, traded_tickers_by_date
from orderflow_pipeline.layers.smart_money.errors import BroksumError
from orderflow_pipeline.layers.smart_money.features import (
    FEATURE_COLUMNS,
    HISTORY_SESSIONS,
    STATE_MIN_DAYS,
    STATE_WINDOW,
    STATES,
    WINDOW,
    Z_STATE,
    compute_features,
)
from orderflow_pipeline.layers.smart_money.listing import (
    broksum_tickers,
    broksum_tickers_by_date,
    list_broksum,
)
from orderflow_pipeline.layers.smart_money.store import (
    EMITEN_HISTORY,
    NgrOutOfRange,
    feature_health_by_date,
    load_history,
    write_features_table,
    write_lake_files,
)

__all__ = [
    "ASSET",
    "CATEGORIES",
    "EMITEN_HISTORY",
    "FEATURE_COLUMNS",
    "HISTORY_SESSIONS",
    "LAKE_LOOKBACK_DAYS",
    "LAYER",
    "RULES_VERSION",
    "SMART",
    "STATES",
    "STATE_MIN_DAYS",
    "STATE_WINDOW",
    "WINDOW",
    "Z_STATE",
    "BrokerDay",
    "BroksumError",
    "DailyFeaturesResult",
    "NgrOutOfRange",
    "SyncResult",
    "broker_category",
    "broksum_tickers",
    "broksum_tickers_by_date",
    "build_daily_features",
    "categories_digest",
    "checks",
    "compute_features",
    "default_categories",
    "feature_health_by_date",
    "features_from_table",
    "list_broksum",
    "load_history",
    "parse_broksum",
    "parse_categories",
    "parse_digest",
    "render_broksum",
    "sync_broker_daily",
    "traded_tickers",
    "traded_tickers_by_date",
    "write_features_table",
    "write_lake_files",
]
