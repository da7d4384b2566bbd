"""Print the Python requirements Home Assistant installs when it starts on a config folder.

Used by scripts/setup and scripts/smoke to install them ahead of time, so a first start
neither downloads nor compiles (Home Assistant installs missing requirements at start-up,
and a few of them are built from source on Python 3.14).

The set follows Home Assistant's bootstrap: the core and default integrations, the base
entity platforms, the integrations named in configuration.yaml, the custom integrations in
the config folder, the integrations onboarding adds, and all their (after-)dependencies;
plus python-isal, which the HTTP server uses when it is there.

    python -m scripts.ha_requirements CONFIG_DIR
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from homeassistant import bootstrap, loader
from homeassistant.config import load_yaml_config_file
from homeassistant.const import BASE_PLATFORMS
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv

# Onboarding's last step sets these up (components/onboarding/views.py).
ONBOARDING_INTEGRATIONS = {"google_translate", "met", "radio_browser", "shopping_list"}
# Not set up unless configured, but its package (python-isal) is what the HTTP server's
# compression looks for; without it every start warns "zlib_ng and isal are not available".
EXTRA_INTEGRATIONS = {"isal"}


def _start_domains(config_dir: Path) -> set[str]:
    config = load_yaml_config_file(str(config_dir / "configuration.yaml"))
    custom = config_dir / "custom_components"
    return {
        *(cv.domain_key(key) for key in config),
        *bootstrap.CORE_INTEGRATIONS,
        *bootstrap.DEFAULT_INTEGRATIONS,
        *BASE_PLATFORMS,
        *ONBOARDING_INTEGRATIONS,
        *EXTRA_INTEGRATIONS,
        *(path.name for path in custom.glob("*") if (path / "manifest.json").exists()),
    }


async def requirements(config_dir: Path) -> list[str]:
    hass = HomeAssistant(str(config_dir))
    loader.async_setup(hass)
    found: dict[str, loader.Integration] = {}
    seen = todo = _start_domains(config_dir)
    while todo:
        results = await loader.async_get_integrations(hass, todo)
        todo = set()
        for domain, integration in results.items():
            if not isinstance(integration, loader.Integration):
                continue  # missing or broken: Home Assistant reports it at start-up
            found[domain] = integration
            todo |= {*integration.dependencies, *integration.after_dependencies}
        todo -= seen
        seen |= todo
    await hass.async_stop(force=True)
    return sorted({req for integration in found.values() for req in integration.requirements})


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # not the loader's custom-integration warning
    config_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "config")
    print("\n".join(asyncio.run(requirements(config_dir))))
