"""Give a fresh development config a virtual gateway entry (used by scripts/develop).

Home Assistant has no YAML set-up for config entries, so the demo entry is written into
its config entry store before Home Assistant starts, once; later runs keep what is there.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from homeassistant.config_entries import STORAGE_VERSION, STORAGE_VERSION_MINOR

from custom_components.resilient_gateway.core.storage import write_json_atomic

DEMO_NETWORK = "demo"


def main(config_dir: str) -> None:
    path = Path(config_dir, ".storage", "core.config_entries")
    store = (
        json.loads(path.read_text())
        if path.exists()
        else {
            "version": STORAGE_VERSION,
            "minor_version": STORAGE_VERSION_MINOR,
            "key": "core.config_entries",
            "data": {"entries": []},
        }
    )
    entries = store["data"]["entries"]
    if any(entry["domain"] == "resilient_gateway" for entry in entries):
        return
    now = datetime.now(UTC).isoformat()
    entries.append(
        {
            "entry_id": uuid.uuid4().hex,
            "version": 1,
            "minor_version": 1,
            "domain": "resilient_gateway",
            "title": f"Virtual gateway {DEMO_NETWORK}",
            "data": {"radio_type": "virtual", "network": DEMO_NETWORK},
            "options": {},
            "pref_disable_new_entities": False,
            "pref_disable_polling": False,
            "source": "user",
            "unique_id": f"virtual:{DEMO_NETWORK}",
            "disabled_by": None,
            "discovery_keys": {},
            "subentries": [],
            "created_at": now,
            "modified_at": now,
        }
    )
    write_json_atomic(path, store)
    print(f"Added the demo virtual gateway to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config")
