"""Symbols sharded across processes (issue 13; docs/shards.md).

`shard_map`: the `[[shards]]` table of the config, checked, and the config each
shard runs. `router`: which shard an order-entry message goes to. `supervisor`:
every shard of a config as child processes on one machine. `bench`: one shard
against N on the same flow split by symbol.
"""

from .shard_map import (SHARD_KEYS, Shard, ShardMap, ShardMapError, exchange_config,
                        load_sharded, parse_shard_map, shard_config)

__all__ = ["Shard", "ShardMap", "ShardMapError", "load_sharded", "parse_shard_map",
           "shard_config", "exchange_config", "SHARD_KEYS"]
