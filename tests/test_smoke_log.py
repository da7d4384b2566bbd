"""The smoke check's verdict on a Home Assistant log (scripts/smoke_check.py)."""

from pathlib import Path

from scripts.smoke_check import problems_in_log, report_log

# Records as Home Assistant 2026.10 and 2026.11 (UTC offset in the timestamp) write them.
LOG = """\
2026-12-01 05:08:33.980 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom \
integration resilient_gateway which has not been tested by Home Assistant.
2026-12-01 05:08:34.100 INFO (MainThread) [homeassistant.setup] Setting up resilient_gateway
2026-12-01 05:08:35.001 ERROR (MainThread) [homeassistant.components.radio_browser] Setup \
of config entry 'Radio Browser' for radio_browser integration cancelled
2026-12-01 05:08:36.002 ERROR (MainThread) [homeassistant.config_entries] Error setting up \
entry Virtual gateway smoke for resilient_gateway
Traceback (most recent call last):
  File "/opt/venv/lib/python3.14/site-packages/homeassistant/config_entries.py", line 1, in x
ValueError: boom
2026-12-01 05:08:37.003+00:00 WARNING (ImportExecutor_0) \
[custom_components.resilient_gateway.climate] GatewayThermostat provides the deprecated \
current_temperature, this will stop working in Home Assistant 2027.11
2026-12-01 05:08:38.004+00:00 WARNING (MainThread) [homeassistant.util.loop] Detected \
blocking call to import_module with args ('bellows.zigbee.application',) inside the event loop
  File "/work/custom_components/resilient_gateway/radios/zigbee/libraries.py", line 9, in load
2026-12-01 05:08:39.005+00:00 ERROR (MainThread) [bellows.zigbee.application] NCP failed
2026-12-01 05:08:40.006+00:00 WARNING (MainThread) [homeassistant.components.http] \
deprecated YAML configuration
"""


def test_the_integrations_problems_fail_and_others_are_only_noted() -> None:
    ours, others = problems_in_log(LOG)

    assert [record.splitlines()[0][:23] for record in ours] == [
        "2026-12-01 05:08:36.002",  # error with its traceback
        "2026-12-01 05:08:37.003",  # deprecation warning (2026.11 timestamp)
        "2026-12-01 05:08:38.004",  # blocking call, named only in its stack
        "2026-12-01 05:08:39.005",  # a radio library's logger (manifest "loggers")
    ]
    assert "ValueError: boom" in ours[0]
    assert [record[:23] for record in others] == [
        "2026-12-01 05:08:35.001",
        "2026-12-01 05:08:40.006",
    ]


def test_strict_fails_on_other_errors_but_not_on_those_after_the_stop(tmp_path: Path) -> None:
    running = LOG.split("\n", 2)[:2]  # the two harmless records
    stopping = LOG.splitlines()[2]  # another integration's error
    log = tmp_path / "home-assistant.log"
    log.write_text("\n".join([*running, stopping, ""]))

    assert report_log(log)  # the radio browser's error is not the integration's
    assert not report_log(log, strict=True)
    stopped_at = len("\n".join(running)) + 1
    assert report_log(log, strict=True, stopped_at=stopped_at)
