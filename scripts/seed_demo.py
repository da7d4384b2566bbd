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

from custom_components.resilient_gateway.core.storage import write_bytes_atomic, write_json_atomic
from custom_components.resilient_gateway.radios.virtual.firmware_files import ota_file
from custom_components.resilient_gateway.radios.virtual.kinds import SimKind

DEMO_NETWORK = "demo"
# The demo's sample firmware: version 1.2 for the colour lights (their update wipes their
# scene table, which the gateway repairs afterwards), in the folder every gateway reads.
DEMO_IMAGE = "sim-color-light-1.2.0.0.ota"
DEMO_IMAGE_VERSION = 0x01020000
DEMO_RELEASE_NOTES = """Sim Color Light 1.2.0.0

- Smoother colour fades.
- Note: this update empties the bulb's scene table; the gateway rewrites its scenes.
"""


def seed_firmware(config_dir: str) -> None:
    """The sample image and its release notes, unless the folder has it already."""
    folder = Path(config_dir, "resilient_gateway", "firmware")
    image = folder / DEMO_IMAGE
    if image.exists():
        return
    write_bytes_atomic(
        image, ota_file(SimKind.COLOR_LIGHT, DEMO_IMAGE_VERSION, size=32_000), mode=0o644
    )
    write_bytes_atomic(image.with_name(image.name + ".md"), DEMO_RELEASE_NOTES.encode(), mode=0o644)
    print(f"Added the demo firmware image {image}")


def main(config_dir: str) -> None:
    seed_firmware(config_dir)
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
