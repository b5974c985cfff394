"""FIX 4.4 order entry: one folder, one `OrderEntry`.

# Ref: FIX 4.4 specification; docs/fix.md (how to connect, what is served).

- `entry`: `FixEntry`, the acceptor an `Exchange` polls (host/net/order_entry_api.py);
- `session`: one connection's session layer; `codec`: framing (simplefix underneath);
- `dictionary`: the FIX 4.4 tags, messages and values served;
- `requests`: order messages to commands; `state`: FIX orders, numbers and the
  reports events make;
- `log_origin`: what the write-ahead log holds about FIX. Importing this package
  registers `FIX_LOG` with the log (`gatebook.host.wal.register_origin_codec`).
"""

from gatebook.host.wal.origins import register_origin_codec

from .entry import FixEntry
from .log_origin import FIX_LOG
from .state import FixState

__all__ = ["FixEntry", "FIX_LOG", "FixState"]

register_origin_codec(FIX_LOG)
