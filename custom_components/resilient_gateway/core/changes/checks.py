"""The checks after a unicast the device acknowledged, until it shows the values: the
wait for its report, a read when it stays silent, a back-off before sending again when it
shows other values (a sleeper waits for its next wake instead). What the answers settle,
and every new send, is the device machine's (``machine.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any, Protocol, cast

from ..model import Attr, SleepMode
from ..policy import ChangePolicy
from ..radio import NoResponseError
from ..scheduler import CommandValues, Priority, SchedulerStopped, SendScheduler, Ticket
from .links import LinkBook
from .records import Device, Phase


class DeviceTransitions(Protocol):
    """What the checks hand a device back to: the device machines."""

    policy: ChangePolicy
    stopped: bool

    def send(self, device: Device, priority: Priority) -> None: ...

    def priority_of_unsent(self, device: Device) -> Priority: ...

    def go_idle(self, device: Device) -> None: ...

    def observe(self, device: Device, values: CommandValues) -> None: ...

    def showed_before(self, device: Device, attr: str) -> bool: ...

    def sleep_mode(self, device: Device) -> SleepMode: ...

    def stop_timer(self, device: Device) -> None: ...

    def track(self, ticket: Ticket[Any]) -> None: ...


class DeviceChecks:
    """Report waits, reads and back-offs of the devices, on the radio's one scheduler;
    the machine (``DeviceTransitions``) sends again and settles what the answers show."""

    def __init__(
        self,
        machine: DeviceTransitions,
        scheduler: SendScheduler,
        *,
        links: LinkBook,
        rng: random.Random,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._machine = machine
        self._scheduler = scheduler
        self._links = links
        self._rng = rng

    def wait_for_report(self, device: Device, seconds: float) -> None:
        """The unicast was acknowledged: its report is due within ``seconds``."""
        self._machine.stop_timer(device)
        device.phase = Phase.WAITING
        device.timer = self._loop.call_later(seconds, self.report_window_over, device)

    def report_window_over(self, device: Device) -> None:
        """Nothing (or not everything) was verified by a report in time."""
        device.timer = None
        if self._machine.stopped:
            return
        if not device.owners:
            self._machine.go_idle(device)
            return
        if device.unsent:
            self._machine.send(device, self._machine.priority_of_unsent(device))
            return
        # Open attributes the device showed since the frame: all of them other values
        # (matching ones would have been verified on arrival).
        shown_wrong = [
            attr
            for attr in device.owners
            if device.observed.get(attr, (None, 0))[1] > device.sent_seq
        ]
        post_send_mismatch = bool(shown_wrong)
        if device.after_broadcast:
            # Values the recall should have changed but the device did not show: it missed
            # the groupcast, or its entry is wrong or gone (after an OTA update or a reset).
            # Rewriting costs one unicast and makes the next recall right either way.
            unchanged = [a for a in device.owners if not self._machine.showed_before(device, a)]
            for attr in (*shown_wrong, *unchanged):
                if (scene := device.owners[attr].scene) is not None:
                    scene.proved_wrong = True
            if device.broadcast is not None:
                device.broadcast.repaired.add(device.device_id)
            # A unicast to a member that already shows the state is harmless and cheaper
            # than reading first.
            self._machine.send(device, Priority.REPAIR)
            return
        if self._machine.sleep_mode(device) is SleepMode.SLEEPY:
            if not device.awake:
                device.phase = Phase.ASLEEP
            elif post_send_mismatch:
                self._machine.send(device, Priority.USER)
            else:
                self.read(device)
            return
        if post_send_mismatch:
            self.back_off(device)
        else:
            self.read(device)

    def read(self, device: Device) -> None:
        """Read what is open: the device stayed silent, or showed these values before."""
        policy = self._machine.policy
        attributes = [Attr(a) if a in Attr else a for a in device.owners]
        holder: list[Ticket[dict[Attr, Any]]] = []
        frames = self._scheduler.frames_to_read(cast(list[Attr], attributes))
        always_on = self._machine.sleep_mode(device) is SleepMode.ALWAYS_ON
        learned = None  # (the last of the reads sent again at once waits for the radio)
        if always_on and device.quick_rereads < policy.read_retries_at_once:
            learned = self._links.read_timeout(policy, frames)
        on_air_at: list[float] = []

        def on_air() -> None:
            if holder and device.ticket is holder[0]:
                on_air_at[:] = [self._loop.time()]
                for change in {id(c): c for c in device.owners.values()}.values():
                    change.reads += 1

        sleepy = self._machine.sleep_mode(device) is SleepMode.SLEEPY
        priority = Priority.USER if sleepy else Priority.REPAIR
        ticket = self._scheduler.read(
            device.device_id,
            cast(list[Attr], attributes),  # custom attributes are plain names
            priority=priority,
            timeout=policy.read_timeout if learned is None else learned,
            on_attempt=on_air,
        )
        holder.append(ticket)
        self._machine.track(ticket)
        device.ticket = ticket
        device.phase = Phase.READING

        def done(ticket: Ticket[dict[Attr, Any]]) -> None:
            answered = not ticket.cancelled() and ticket.exception() is None
            if answered and on_air_at and always_on:
                self._links.read_delay((self._loop.time() - on_air_at[0]) / frames)
            self._read_done(device, ticket, learned is not None)

        ticket.add_done_callback(done)

    def _read_done(
        self, device: Device, ticket: Ticket[dict[Attr, Any]], learned_timeout: bool
    ) -> None:
        if self._machine.stopped:
            return
        cancelled = ticket.cancelled()  # (by someone else if it is still the device's)
        error = None if cancelled else ticket.exception()
        if not cancelled and error is None:
            # From the device, so evidence even when the machine has moved on meanwhile.
            self._machine.observe(device, ticket.result())
        if ticket is not device.ticket:
            return
        device.ticket = None
        if not cancelled:
            device.silent = error is not None
        if not device.owners:
            self._machine.go_idle(device)
            return
        if device.unsent:
            self._machine.send(device, self._machine.priority_of_unsent(device))
        elif self._machine.sleep_mode(device) is SleepMode.SLEEPY:
            if not cancelled and error is None and device.awake:
                self._machine.send(device, Priority.USER)
            else:
                device.phase = Phase.ASLEEP
        elif learned_timeout and isinstance(error, NoResponseError):
            # Its answer was lost (answers come sooner than this): ask again at once.
            device.quick_rereads += 1
            self.read(device)
        else:
            device.quick_rereads = 0
            self.back_off(device)

    def back_off(self, device: Device) -> None:
        """Wait before sending again (a sleeper waits for its next wake instead)."""
        self._machine.stop_timer(device)
        if self._machine.sleep_mode(device) is SleepMode.SLEEPY:
            device.phase = Phase.ASLEEP
            return
        delay = self._machine.policy.repair_backoff.delay(device.repairs, self._rng)
        device.repairs += 1
        device.phase = Phase.BACKOFF
        device.timer = self._loop.call_later(delay, self._back_off_over, device)

    def _back_off_over(self, device: Device) -> None:
        device.timer = None
        if self._machine.stopped:
            return
        # (The scheduler stopped first: the change fails at its deadline.)
        with contextlib.suppress(SchedulerStopped):
            self._machine.send(device, Priority.REPAIR)
