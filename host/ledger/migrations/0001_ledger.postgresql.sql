-- The ledger's tables (PostgreSQL). Every amount is a signed 64-bit integer
-- (BIGINT): an overflow fails the transaction.

-- How far the log has been applied: one row, moved in the same transaction as
-- the postings, so a batch is applied whole or not at all (exactly once).
CREATE TABLE ledger_cursor (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq  BIGINT  NOT NULL,            -- every command up to here is in
    applied_crc  BIGINT,                      -- the log's CRC of that command's INPUT record
    executions   BIGINT  NOT NULL
);
INSERT INTO ledger_cursor (id, applied_seq, applied_crc, executions) VALUES (1, 0, NULL, 0);

-- One row per EXECUTED event; match_id is unique exchange-wide, so a second
-- copy of an execution is refused by the key.
CREATE TABLE executions (
    match_id       BIGINT   PRIMARY KEY,
    seq            BIGINT   NOT NULL,
    ts             BIGINT   NOT NULL,
    symbol         INTEGER  NOT NULL,
    price          BIGINT   NOT NULL,
    qty            BIGINT   NOT NULL,
    buyer          BIGINT   NOT NULL,
    seller         BIGINT   NOT NULL,
    buyer_fee      BIGINT   NOT NULL,
    seller_fee     BIGINT   NOT NULL,
    aggressor_side SMALLINT NOT NULL
);

-- Double entry: per execution and book, the amounts sum to zero. No index
-- beyond the keys: each one costs every batch (add one when a report needs it).
CREATE TABLE postings (
    match_id BIGINT   NOT NULL REFERENCES executions (match_id),
    leg      SMALLINT NOT NULL,
    account  BIGINT   NOT NULL,
    book     TEXT     NOT NULL CHECK (book IN ('cash', 'position')),
    symbol   INTEGER  NOT NULL,
    amount   BIGINT   NOT NULL,
    PRIMARY KEY (match_id, leg)
);

CREATE TABLE cash (
    account BIGINT PRIMARY KEY,
    amount  BIGINT NOT NULL
);

CREATE TABLE positions (
    account BIGINT  NOT NULL,
    symbol  INTEGER NOT NULL,
    qty     BIGINT  NOT NULL,
    PRIMARY KEY (account, symbol)
);
