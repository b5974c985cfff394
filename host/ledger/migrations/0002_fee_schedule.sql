-- The fee schedule the writer charges (host/ledger/postings.py), one row per rule: kept
-- so `gatebook ledger reconcile` recomputes every execution's fees with it, and so a
-- writer started with other fees is refused instead of mixing two schedules in one ledger.
CREATE TABLE fee_schedule (
    rule      TEXT   PRIMARY KEY
              CHECK (rule IN ('buy_maker', 'buy_taker', 'sell_maker', 'sell_taker')),
    per_share BIGINT NOT NULL,
    rate_ppm  BIGINT NOT NULL
);
