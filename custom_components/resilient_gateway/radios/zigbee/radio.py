"""A zigpy ControllerApplication seen through the radio-neutral contract.

The same class drives a real serial radio (bellows, zigpy-znp, …) and the virtual radio:
only the ControllerApplication class and its config differ, so nothing above this module
knows which one it talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from typing import Any, Final

import zigpy.config
import zigpy.exceptions
from zigpy.application import ControllerApplication
from zigpy.backups import NetworkBackup
from zigpy.device import Device
from zigpy.types import EUI64
from zigpy.zcl import Cluster, foundation
from zigpy.zcl.clusters.general import Basic, Groups, LevelControl, OnOff, PollControl, Scenes
from zigpy.zcl.clusters.homeautomation import ElectricalMeasurement
from zigpy.zcl.clusters.hvac import Thermostat
from zigpy.zcl.clusters.lighting import Color
from zigpy.zcl.clusters.measurement import TemperatureMeasurement
from zigpy.zcl.clusters.security import IasZone
from zigpy.zcl.helpers import ReportingConfig

from ...core.model import (
    Attr,
    AttributeValues,
    DeviceDescription,
    DeviceId,
    DeviceKind,
    GroupDescription,
    PowerSource,
    SleepMode,
)
from ...core.radio import (
    BlankRadioError,
    DeliveryError,
    ForeignNetworkError,
    LinkState,
    NoResponseError,
    RadioBudget,
    RadioError,
    RadioListener,
    UnsupportedValue,
)
from . import snapshot
from .attributes import (
    BY_ATTR,
    BY_CLUSTER_AND_NAME,
    HVAC_MODE_TO_SYSTEM_MODE,
    ZclAttribute,
    xy_from_zcl,
    xy_to_zcl,
)
from .ota import ZigbeeFirmware
from .scenes import SceneValues, use_extended_scenes

_LOGGER = logging.getLogger(__name__)

PLUG_DEVICE_TYPES = frozenset({0x0009, 0x0051, 0x010A})
APP_ENDPOINTS_EXCLUDED = frozenset({0, 242})  # ZDO and Green Power are not application endpoints

RESTART_SETTLE: Final = 5.0
"""Seconds a restarted radio gets to come back (a USB stick re-enumerates)."""

RESTORE_COUNTER_INCREMENT: Final = 10000
"""Frame counters jump by this on restore, so devices never see an old counter again."""

type ClusterCall = Callable[[Cluster], Awaitable[Any]]


def _tenths(transition: float | None) -> int:
    return 0 if transition is None else max(0, round(transition * 10))


_NUMBERS = (Attr.BRIGHTNESS, Attr.COLOR_TEMP, Attr.HEATING_SETPOINT)


def check_values(values: AttributeValues) -> None:
    """UnsupportedValue for a value ``zcl_calls`` cannot encode."""
    if (mode := values.get(Attr.HVAC_MODE)) is not None and (
        str(mode) not in HVAC_MODE_TO_SYSTEM_MODE
    ):
        modes = ", ".join(HVAC_MODE_TO_SYSTEM_MODE)
        raise UnsupportedValue(Attr.HVAC_MODE, mode, f"a Zigbee thermostat's modes are {modes}")
    for attr in _NUMBERS:
        if (value := values.get(attr)) is not None and not _is_number(value):
            raise UnsupportedValue(attr, value, "not a number")
    if (xy := values.get(Attr.XY)) is not None and not (
        isinstance(xy, (list, tuple)) and len(xy) == 2 and all(_is_number(v) for v in xy)
    ):
        raise UnsupportedValue(Attr.XY, xy, "not a pair of numbers")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def zcl_calls(values: AttributeValues, transition: float | None) -> list[tuple[int, ClusterCall]]:
    """The ZCL commands and writes that set ``values``, as (cluster id, call) pairs.

    Commands go out without waiting for a ZCL response: delivery is confirmed by the
    radio, success only by the device's own reports or reads.
    """
    tt = _tenths(transition)
    calls: list[tuple[int, ClusterCall]] = []
    on = values.get(Attr.ON)
    level = values.get(Attr.BRIGHTNESS)
    if on is False:
        calls.append((OnOff.cluster_id, lambda c: c.off(expect_reply=False)))
    elif level is not None:
        command = "move_to_level_with_on_off" if on else "move_to_level"
        calls.append(
            (
                LevelControl.cluster_id,
                lambda c: getattr(c, command)(
                    level=int(level), transition_time=tt, expect_reply=False
                ),
            )
        )
    elif on is True:
        calls.append((OnOff.cluster_id, lambda c: c.on(expect_reply=False)))
    if (mireds := values.get(Attr.COLOR_TEMP)) is not None:
        calls.append(
            (
                Color.cluster_id,
                lambda c: c.move_to_color_temp(
                    color_temp_mireds=int(mireds), transition_time=tt, expect_reply=False
                ),
            )
        )
    if (xy := values.get(Attr.XY)) is not None:
        x, y = xy_to_zcl(xy)
        calls.append(
            (
                Color.cluster_id,
                lambda c: c.move_to_color(
                    color_x=x, color_y=y, transition_time=tt, expect_reply=False
                ),
            )
        )
    writes: dict[str | int | foundation.ZCLAttributeDef, Any] = {}
    if (setpoint := values.get(Attr.HEATING_SETPOINT)) is not None:
        writes["occupied_heating_setpoint"] = round(float(setpoint) * 100)
    if (mode := values.get(Attr.HVAC_MODE)) is not None:
        writes["system_mode"] = HVAC_MODE_TO_SYSTEM_MODE[str(mode)]
    if writes:
        calls.append((Thermostat.cluster_id, lambda c: c.write_attributes(writes)))
    return calls


def device_id_of(device: Device) -> DeviceId:
    return str(device.ieee)


class ZigbeeRadio:
    """Drives one zigpy ControllerApplication and translates it to neutral terms."""

    def __init__(
        self,
        app_class: type[ControllerApplication],
        config: dict[str, Any],
        listener: RadioListener,
        *,
        budget: RadioBudget | None = None,
        standby_device: dict[str, Any] | None = None,
    ) -> None:
        self._app_class = app_class
        # zigpy itself refuses a radio whose network differs from its last backup.
        self._config = {**config, zigpy.config.CONF_NWK_VALIDATE_SETTINGS: True}
        self._listener = listener
        self._budget = budget or RadioBudget()
        self._standby_device = standby_device
        self._app: ControllerApplication | None = None
        self._adopting = False  # snapshot devices are being adopted (see adopt)
        self._removed: set[EUI64] = set()  # removed by zigpy, not yet dropped (see device_removed)
        self._network: NetworkBackup | None = None
        self._state = LinkState.DOWN
        self._watched: set[DeviceId] = set()
        self._unsubscribers: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.firmware = ZigbeeFirmware(self)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def app(self) -> ControllerApplication:
        if self._app is None:
            raise DeliveryError("the radio is not running")
        return self._app

    def _link_up(self) -> ControllerApplication:
        """The app, for a request over the link; DeliveryError at once when the link is
        known down (a radio library would wait on the dead link, then fail its own way)."""
        if self._app is None or self._state is LinkState.DOWN:
            raise DeliveryError("the radio link is down")
        return self._app

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def budget(self) -> RadioBudget:
        return self._budget

    @property
    def device_path(self) -> str:
        return str(self._config[zigpy.config.CONF_DEVICE][zigpy.config.CONF_DEVICE_PATH])

    async def start(self, *, form_new_network: bool = False) -> None:
        """Start the radio and its network.

        A blank radio raises BlankRadioError and one running another network
        ForeignNetworkError. A blank one is formed into a new network only for a gateway
        that never had one: the caller found no trace of one (``form_new_network``) and
        neither does zigpy's database (no network backup, no device). Other failures
        raise what zigpy raises.
        """
        # A start cancelled half-way (the gateway stops during a reconnect) would leave
        # zigpy's database open: let it finish, then close what it opened.
        try:
            await _to_completion(self._start(form_new_network))
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def _start(self, form_new_network: bool) -> None:
        app = await self._app_class.new(config=self._config, auto_form=False, start_radio=False)
        form = form_new_network and not _had_network(app)
        try:
            await app.startup(auto_form=form)
        except zigpy.exceptions.NetworkNotFormed as exc:
            await _close(app)
            raise BlankRadioError(f"the radio at {self.device_path} holds no network") from exc
        except zigpy.exceptions.NetworkSettingsInconsistent as exc:
            await _close(app)
            raise ForeignNetworkError(
                f"the radio at {self.device_path} runs another network"
            ) from exc
        except BaseException:
            await _close(app)
            raise
        self._app = app
        self._network = app.backups.from_network_state()
        app.add_listener(self)
        app.groups.add_listener(self)
        for device in app.devices.values():
            if isinstance(device, Device):
                self._watch(device)
        self._set_state(LinkState.UP)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers.clear()
        self._watched.clear()
        if self._app is not None:
            app, self._app = self._app, None
            await _to_completion(app.shutdown())
        # Stopping is the gateway's own doing: it needs no news of it.
        self._state = LinkState.DOWN

    async def probe(self) -> None:
        """End to end: the radio answers and still holds this gateway's network."""
        app = self._link_up()
        try:
            await self._over_link(app.load_network_info(load_devices=False))
        except zigpy.exceptions.NetworkNotFormed as exc:
            raise BlankRadioError("the radio lost its network") from exc
        except (zigpy.exceptions.ZigbeeException, OSError) as exc:
            raise RadioError(f"the radio does not answer: {exc}") from exc
        current = app.backups.from_network_state()
        if self._network is not None and not current.is_compatible_with(self._network):
            raise ForeignNetworkError("the radio now runs another network")

    async def reconnect(self) -> None:
        """Open the link anew (zigpy never does by itself)."""
        await self.stop()
        await self.start()

    async def restart(self) -> None:
        """Restart the radio: close, give the stick time to reset, start again."""
        await self.stop()
        await asyncio.sleep(RESTART_SETTLE)
        await self.start()

    @property
    def has_standby(self) -> bool:
        return self._standby_device is not None

    async def failover(self, section: Mapping[str, Any]) -> None:
        """Move to the standby radio: write the network identity to it, start there.

        The standby becomes this radio's port; the failed one becomes the standby.
        """
        if self._standby_device is None:
            raise RadioError("no standby radio is configured")
        await self.stop()
        device = zigpy.config.CONF_DEVICE
        self._config[device], self._standby_device = self._standby_device, self._config[device]
        await self.write_network_identity(section, force=True)
        await self.start()

    # -- snapshots -------------------------------------------------------------------

    @property
    def section_name(self) -> str:
        return snapshot.SECTION

    async def export_section(self) -> dict[str, Any]:
        """Network identity (with current frame counters) and interview data."""
        app = self._link_up()
        backup = await self._over_link(app.backups.create_backup(load_devices=True))
        return {
            "network": backup.as_dict(),
            "devices": snapshot.export_devices(app),
            "groups": snapshot.export_groups(app),
        }

    def network_id(self) -> str | None:
        return None if self._network is None else snapshot.network_id(self._network)

    async def export_network(self) -> dict[str, Any]:
        """The network identity as Open Coordinator Backup JSON (ZHA, Zigbee2MQTT)."""
        app = self._link_up()
        backup = await self._over_link(app.backups.create_backup(load_devices=True))
        return backup.as_open_coordinator_json()

    async def write_network_identity(
        self, section: Mapping[str, Any], *, force: bool = False
    ) -> None:
        """Phase 1 of a restore, with the radio stopped: write the section's network
        identity. A radio already running a different network is refused unless
        ``force``. Frame counters are raised so devices accept the restored coordinator.
        """
        if self._app is not None:
            raise RadioError("stop the radio before restoring its network")
        try:
            backup = snapshot.parse_network_backup(section.get("network") or {})
        except ValueError as exc:
            raise RadioError(str(exc)) from None
        try:
            await _to_completion(self._write_network(backup, force=force))
        except (zigpy.exceptions.ZigbeeException, OSError, TimeoutError) as exc:
            # The radio library's own words for a port that vanished or a stick that
            # stopped answering: to the gateway it is a radio that failed the restore.
            raise RadioError(f"the radio at {self.device_path} failed during the restore") from exc

    async def _write_network(self, backup: NetworkBackup, *, force: bool) -> None:
        app = await self._app_class.new(config=self._config, auto_form=False, start_radio=False)
        try:
            await app.connect()
            try:
                await app.load_network_info(load_devices=False)
            except zigpy.exceptions.NetworkNotFormed:
                pass  # blank: nothing to protect
            else:
                current = app.backups.from_network_state()
                same = current.network_info.extended_pan_id == backup.network_info.extended_pan_id
                if not same and not force:
                    raise ForeignNetworkError(
                        f"the radio at {self.device_path} runs network "
                        f"{snapshot.network_id(current)}, not {snapshot.network_id(backup)}"
                    )
            await app.backups.restore_backup(
                backup, counter_increment=RESTORE_COUNTER_INCREMENT, create_new=True
            )
        finally:
            await app.shutdown()

    async def adopt(self, section: Mapping[str, Any]) -> list[DeviceId]:
        """Phase 2 start: devices and groups of the snapshot that zigpy does not know."""
        app = self.app
        # Phase 2 configures them through the send scheduler, paced: zigpy's
        # device_initialized event must not start an unpaced reporting set-up as well.
        self._adopting = True
        try:
            adopted = snapshot.adopt_devices(app, list(section.get("devices", ())))
        finally:
            self._adopting = False
        snapshot.adopt_groups(app, list(section.get("groups", ())))
        return adopted

    def check_section(self, section: Mapping[str, Any]) -> None:
        """Raise ValueError unless a restore can use ``section`` as it is (before phase 1;
        a pure check of the data, safe in a worker thread)."""
        snapshot.check_section(section)

    def _set_state(self, state: LinkState) -> None:
        if state != self._state:
            self._state = state
            self._listener.radio_state_changed(state)

    # -- inventory -------------------------------------------------------------------

    def _app_devices(self) -> Iterator[Device]:
        if self._app is None:
            return
        coordinator_ieee = self._app.state.node_info.ieee
        for device in self._app.devices.values():
            if (
                isinstance(device, Device)
                and device.ieee != coordinator_ieee
                and device.is_initialized
                and device.ieee not in self._removed
            ):
                yield device

    def devices(self) -> list[DeviceDescription]:
        return [describe(device) for device in self._app_devices()]

    def groups(self) -> list[GroupDescription]:
        if self._app is None:
            return []
        return [
            GroupDescription(
                group_id=int(group.group_id),
                name=group.name,
                members=tuple(sorted({str(ieee) for ieee, _ in group.members})),
            )
            for group in self._app.groups.values()
        ]

    def diagnostics(self) -> dict[str, Any]:
        if self._app is None:
            return {"state": self._state}
        state = self._app.state
        return {
            "state": self._state,
            "radio_library": type(self._app).__module__.split(".")[0],
            "coordinator_ieee": str(state.node_info.ieee),
            "network": state.network_info.as_dict(),
        }

    # -- the Radio contract ----------------------------------------------------------

    async def send(
        self, device_id: DeviceId, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        self._link_up()
        device = self._device(device_id)
        for cluster_id, call in zcl_calls(values, transition):
            await self._translate_errors(call(_find_cluster(device, cluster_id)))

    async def send_group(
        self, group_id: int, values: AttributeValues, *, transition: float | None = None
    ) -> None:
        self._link_up()
        endpoint = self._group(group_id).endpoint
        for cluster_id, call in zcl_calls(values, transition):
            await self._translate_errors(call(endpoint[cluster_id]))

    def frames_to_send(self, values: AttributeValues) -> int:
        return max(1, len(zcl_calls(values, None)))

    def frames_to_read(self, attributes: Collection[Attr]) -> int:
        return max(1, len(_by_cluster(attributes)))

    async def read(self, device_id: DeviceId, attributes: Collection[Attr]) -> dict[Attr, Any]:
        self._link_up()
        device = self._device(device_id)
        by_cluster = _by_cluster(attributes)
        values: dict[Attr, Any] = {}
        for cluster_id, names in by_cluster.items():
            cluster = _find_cluster(device, cluster_id)
            success, _failure = await self._translate_errors(
                cluster.read_attributes(names, allow_cache=False)
            )
            for name, raw in success.items():
                found = BY_CLUSTER_AND_NAME.get((cluster_id, str(name)))
                if found is not None and (value := _decoded(cluster, found, raw)) is not None:
                    values[found.attr] = value
        return values

    async def recall_scene(self, group_id: int, scene_id: int) -> None:
        self._link_up()
        scenes = self._group(group_id).endpoint[Scenes.cluster_id]
        await self._translate_errors(scenes.recall(group_id=group_id, scene_id=scene_id))

    async def store_scene(
        self, device_id: DeviceId, group_id: int, scene_id: int, values: AttributeValues
    ) -> None:
        """Add Scene with extension field sets: the entry holds exactly ``values``."""
        self._link_up()
        device = self._device(device_id)
        scenes = use_extended_scenes(_find_cluster(device, Scenes.cluster_id).endpoint)
        xy = values.get(Attr.XY)
        stored = SceneValues(
            on=values.get(Attr.ON),
            level=values.get(Attr.BRIGHTNESS),
            xy=None if xy is None else xy_to_zcl(xy),
            color_temp=values.get(Attr.COLOR_TEMP),
        )
        response = await self._translate_errors(
            scenes.add(
                group_id=group_id,
                scene_id=scene_id,
                transition_time=0,
                scene_name="",
                extension_field_sets=stored.to_extension_sets(),
            )
        )
        status = getattr(response, "status", foundation.Status.SUCCESS)
        if status != foundation.Status.SUCCESS:
            raise RadioError(f"{device_id} refused the scene entry: {status!r}")

    def check_values(self, device_id: DeviceId | None, values: AttributeValues) -> None:
        check_values(values)

    async def ping(self, device_id: DeviceId) -> None:
        """The cheapest question a device answers (Basic: ZCL version), as Zigbee2MQTT asks."""
        self._link_up()
        basic = _find_cluster(self._device(device_id), Basic.cluster_id)
        await self._translate_errors(basic.read_attributes(["zcl_version"], allow_cache=False))

    async def configure_device(
        self,
        device_id: DeviceId,
        groups: Collection[int],
        scenes: Collection[tuple[int, int, AttributeValues]],
    ) -> None:
        """Make the device hold what the gateway expects of it: its group memberships,
        its scene entries, bindings and attribute reporting (after a restore, or when it
        rejoined with empty tables). Only what is missing is written."""
        self._link_up()
        device = self._device(device_id)
        if groups:
            cluster = _find_cluster(device, Groups.cluster_id)
            response = await self._translate_errors(cluster.get_membership(groups=[]))
            held = {int(group) for group in getattr(response, "groups", ())}
            for group_id in sorted(set(groups) - held):
                name = self.app.groups[group_id].name if group_id in self.app.groups else ""
                await self._translate_errors(cluster.add(group_id=group_id, group_name=name or ""))
        for group_id, scene_id, values in scenes:
            cluster = _find_cluster(device, Scenes.cluster_id)
            view = await self._translate_errors(cluster.view(group_id=group_id, scene_id=scene_id))
            if getattr(view, "status", None) != foundation.Status.SUCCESS:
                await self.store_scene(device_id, group_id, scene_id, values)
        await self._configure_reporting(device, raise_errors=True)

    def configuration_frames(
        self, device_id: DeviceId, groups: Collection[int], scene_count: int
    ) -> int:
        """Get Group Membership, a View Scene per entry, a bind and a Configure Reporting
        per reporting cluster (what is missing costs more, rarely)."""
        reporting = sum(1 for _ in _reporting_clusters(self._device(device_id)))
        return max(1, (1 if groups else 0) + scene_count + 2 * reporting)

    # -- zigpy events ----------------------------------------------------------------

    def device_initialized(self, device: Device) -> None:
        """A device finished its interview: watch it and ask it to report."""
        self._removed.discard(device.ieee)  # (one removed before may join again)
        self._watch(device)
        if not self._adopting:
            self._spawn(self._configure_reporting(device))
        self._listener.devices_changed()

    def device_removed(self, device: Device) -> None:
        """zigpy tells of a removal before it drops the device (after its leave request,
        up to 30 s later): the inventory leaves the device out from now on."""
        self._removed.add(device.ieee)
        self._listener.devices_changed()

    def device_left(self, device: Device) -> None:
        self._listener.devices_changed()

    def group_added(self, *_: Any) -> None:
        self._listener.devices_changed()

    def group_member_added(self, *_: Any) -> None:
        self._listener.devices_changed()

    def group_member_removed(self, *_: Any) -> None:
        self._listener.devices_changed()

    def connection_lost(self, exc: BaseException | None) -> None:
        _LOGGER.warning("Lost the connection to the radio: %s", exc)
        self._set_state(LinkState.DOWN)

    # -- helpers ---------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _device(self, device_id: DeviceId) -> Device:
        device = self.app.devices.get(EUI64.convert(device_id))
        if not isinstance(device, Device):
            raise DeliveryError(f"unknown device {device_id}")
        return device

    def _group(self, group_id: int) -> Any:
        try:
            return self.app.groups[group_id]
        except KeyError:
            raise DeliveryError(f"unknown group 0x{group_id:04x}") from None

    def _watch(self, device: Device) -> None:
        device_id = device_id_of(device)
        if device_id in self._watched or device.ieee == self.app.state.node_info.ieee:
            return
        self._watched.add(device_id)
        watcher = _DeviceWatcher(self._listener, device)
        device.add_listener(watcher)
        device.zdo.add_listener(watcher)
        self._unsubscribers.append(lambda: device.remove_listener(watcher))
        self._unsubscribers.append(lambda: device.zdo.remove_listener(watcher))
        self._unsubscribers.extend(self.firmware.watch(device, device_id))
        for cluster in _app_clusters(device):
            for event in ("attribute_report", "attribute_read"):
                self._unsubscribers.append(cluster.on_event(event, watcher.attribute_event))
            if cluster.cluster_id == IasZone.cluster_id:
                cluster.add_listener(watcher)
                self._unsubscribers.append(
                    lambda c=cluster: c.remove_listener(watcher)  # type: ignore[misc]
                )

    async def _configure_reporting(self, device: Device, *, raise_errors: bool = False) -> None:
        """Bind and configure reporting, so state changes come to us unasked."""
        for cluster, config in _reporting_clusters(device):
            try:
                await self._over_link(cluster.bind())  # type: ignore[no-untyped-call]
                await self._over_link(cluster.configure_reporting_multiple(config))
            except DeliveryError as exc:  # the link went down: the rest cannot go either
                if raise_errors:
                    raise
                _LOGGER.debug("Reporting set-up for %s stopped: %s", device.ieee, exc)
                return
            except (TimeoutError, zigpy.exceptions.ZigbeeException) as exc:
                if raise_errors:
                    raise NoResponseError(f"reporting set-up for {device.ieee} failed") from exc
                _LOGGER.debug("Reporting set-up for %s failed: %s", device.ieee, exc)

    async def _over_link[T](self, call: Awaitable[T]) -> T:
        """Await a request to the radio. What its library raises when the link drops
        becomes a DeliveryError: a pending confirmation it cancelled itself (zigpy-znp
        cancels every one when it closes), and any error once the link is known down
        (zigpy-znp writing to a closed serial transport raises AttributeError)."""
        try:
            return await call
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our own cancellation (a stop, a timeout) goes on
            raise DeliveryError("the radio link dropped before the frame was confirmed") from exc
        except Exception as exc:
            if self._app is None or self._state is LinkState.DOWN:
                raise DeliveryError(f"the radio link is down ({exc!r})") from exc
            raise

    async def _translate_errors[T](self, call: Awaitable[T]) -> T:
        """A request to a device, its failures in neutral terms."""
        try:
            return await self._over_link(call)
        except zigpy.exceptions.DeliveryError as exc:
            raise DeliveryError(str(exc)) from exc
        except TimeoutError as exc:
            raise NoResponseError("the device did not answer in time") from exc


class _DeviceWatcher:
    """Listens to one zigpy device and passes what it hears on in neutral terms."""

    def __init__(self, listener: RadioListener, device: Device) -> None:
        self._listener = listener
        self._device = device
        self._device_id = device_id_of(device)

    def device_last_seen_updated(self, *_: Any) -> None:
        self._listener.device_seen(self._device_id)

    def device_announce(self, *_: Any) -> None:
        self._listener.device_announced(self._device_id)

    def attribute_event(self, event: Any) -> None:
        zcl = BY_CLUSTER_AND_NAME.get((event.cluster_id, event.attribute_name or ""))
        if zcl is None or event.value is None:
            return
        if zcl.attr is Attr.XY:
            # Colour arrives as two attributes: pair the new one with the last known other.
            cluster = self._device.endpoints[event.endpoint_id].in_clusters[event.cluster_id]
            x = event.value if zcl.name == "current_x" else cluster.get("current_x")
            y = event.value if zcl.name == "current_y" else cluster.get("current_y")
            if x is None or y is None:
                return
            value: Any = xy_from_zcl(x, y)
        else:
            cluster = self._device.endpoints[event.endpoint_id].in_clusters[event.cluster_id]
            value = zcl.value(event.value, cluster.get)
        self._listener.attributes_reported(self._device_id, {zcl.attr: value})

    def cluster_command(self, _tsn: int, command_id: int, args: Any) -> None:
        # IAS Zone "status change notification" carries the zone status.
        if command_id == 0x00 and hasattr(args, "zone_status"):
            self._listener.attributes_reported(
                self._device_id, {Attr.OPEN: bool(int(args.zone_status) & 0x1)}
            )


def _app_clusters(device: Device) -> Iterator[Cluster]:
    for endpoint_id, endpoint in device.endpoints.items():
        if endpoint_id in APP_ENDPOINTS_EXCLUDED:
            continue
        yield from endpoint.in_clusters.values()


def _by_cluster(
    attributes: Collection[Attr],
) -> dict[int, list[int | str | foundation.ZCLAttributeDef]]:
    """The attribute names to read per cluster: one Read Attributes request each."""
    by_cluster: dict[int, list[int | str | foundation.ZCLAttributeDef]] = {}
    for attr in attributes:
        for zcl in BY_ATTR.get(attr, ()):
            names = by_cluster.setdefault(zcl.cluster_id, [])
            # The scale first: the value's own read event is decoded with it.
            names.extend(name for name in zcl.scale or () if name not in names)
            names.append(zcl.name)
    return by_cluster


def _reporting_clusters(device: Device) -> Iterator[tuple[Cluster, dict[Any, ReportingConfig]]]:
    """The device's clusters with attributes we want reported, and their reporting."""
    for cluster in _app_clusters(device):
        config = {
            cluster.find_attribute(zcl.name): ReportingConfig(*zcl.reporting)
            for (cluster_id, _), zcl in BY_CLUSTER_AND_NAME.items()
            if cluster_id == cluster.cluster_id
        }
        if config:
            yield cluster, config


def _find_cluster(device: Device, cluster_id: int) -> Cluster:
    for cluster in _app_clusters(device):
        if cluster.cluster_id == cluster_id:
            return cluster
    raise DeliveryError(f"{device.ieee} has no cluster 0x{cluster_id:04x}")


def _decoded(cluster: Cluster, zcl: ZclAttribute, raw: Any) -> Any:
    if raw is None:
        return None
    if zcl.attr is Attr.XY:
        x, y = cluster.get("current_x"), cluster.get("current_y")
        if x is None or y is None:
            return None
        return xy_from_zcl(x, y)
    return zcl.value(raw, cluster.get)


async def _to_completion(work: Awaitable[None]) -> None:
    """Run ``work`` to its end even if the caller is cancelled meanwhile (then re-raise):
    a zigpy start or shutdown cut in half leaves its database worker running."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def _close(app: ControllerApplication) -> None:
    """Release what a failed start left open (zigpy keeps its database open then)."""
    try:
        await app.shutdown()
    except Exception:
        _LOGGER.debug("Cleaning up after a failed radio start failed", exc_info=True)


def _had_network(app: ControllerApplication) -> bool:
    """Whether zigpy's database shows a network this gateway ran before: a network backup,
    or any device (its old coordinator included) kept from an earlier start."""
    return app.backups.most_recent_backup() is not None or bool(app.devices)


def describe(device: Device) -> DeviceDescription:
    """A zigpy device in neutral terms: its kind, power, sleep habit and attributes."""
    cluster_ids = {cluster.cluster_id for cluster in _app_clusters(device)}
    device_types = {
        endpoint.device_type
        for endpoint_id, endpoint in device.endpoints.items()
        if endpoint_id not in APP_ENDPOINTS_EXCLUDED
    }
    attributes = frozenset(
        zcl.attr for zcl in BY_CLUSTER_AND_NAME.values() if zcl.cluster_id in cluster_ids
    )
    if Thermostat.cluster_id in cluster_ids:
        kind = DeviceKind.THERMOSTAT
    elif IasZone.cluster_id in cluster_ids:
        kind = DeviceKind.CONTACT_SENSOR
    elif TemperatureMeasurement.cluster_id in cluster_ids:
        kind = DeviceKind.CLIMATE_SENSOR
    elif OnOff.cluster_id in cluster_ids:
        is_plug = ElectricalMeasurement.cluster_id in cluster_ids or bool(
            device_types & PLUG_DEVICE_TYPES
        )
        kind = DeviceKind.PLUG if is_plug else DeviceKind.LIGHT
    else:
        kind = DeviceKind.OTHER
    node = device.node_desc
    if node is None or node.is_receiver_on_when_idle:
        sleep = SleepMode.ALWAYS_ON
    elif PollControl.cluster_id in cluster_ids:
        sleep = SleepMode.LIGHT_SLEEPER
    else:
        sleep = SleepMode.SLEEPY
    mains = node is None or node.is_mains_powered
    model = device.model or "Zigbee device"
    return DeviceDescription(
        device_id=device_id_of(device),
        name=f"{model} {str(device.ieee)[-5:].replace(':', '')}",
        kind=kind,
        manufacturer=device.manufacturer,
        model=device.model,
        power_source=PowerSource.MAINS if mains else PowerSource.BATTERY,
        sleep_mode=sleep,
        attributes=attributes,
    )
