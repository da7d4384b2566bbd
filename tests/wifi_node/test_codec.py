"""micropython-iot's wire format, byte for byte, and its message-id rules."""

from __future__ import annotations

import pytest

from custom_components.resilient_gateway.radios.wifi_node import auth
from custom_components.resilient_gateway.radios.wifi_node.codec import (
    KEEPALIVE,
    Line,
    LineKind,
    LineSplitter,
    ReceiveWindow,
    encode_ack,
    encode_message,
    next_message_id,
    parse_line,
)


def test_lines_on_the_wire() -> None:
    assert encode_message(0, '{"t":21.5}') == b'00{"t":21.5}\n'
    assert encode_message(0xAB, "hello") == b"abhello\n"
    assert encode_message(7, "already\n") == b"07already\n"  # (no second newline)
    assert encode_ack(0) == b"00\n"
    assert encode_ack(255) == b"ff\n"
    assert KEEPALIVE == b"\n"


def test_message_ids_run_0_then_1_to_255_and_wrap_to_1() -> None:
    ids = [0]
    for _ in range(257):
        ids.append(next_message_id(ids[-1]))
    assert ids[:3] == [0, 1, 2]
    assert ids[255:258] == [255, 1, 2]
    assert 0 not in ids[1:]


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b"", Line(LineKind.KEEPALIVE)),
        (b"1f", Line(LineKind.ACK, 0x1F)),
        (b"1F", Line(LineKind.ACK, 0x1F)),
        (b'05{"a":1}', Line(LineKind.MESSAGE, 5, '{"a":1}')),
        (b"00x", Line(LineKind.MESSAGE, 0, "x")),
        (b"zz{}", Line(LineKind.MALFORMED)),
        (b"7", Line(LineKind.MALFORMED)),
        (b"01\xff\xfe", Line(LineKind.MALFORMED, 1)),
    ],
)
def test_received_lines_are_classified_as_upstream_does(raw: bytes, line: Line) -> None:
    assert parse_line(raw) == line


def test_a_stream_is_cut_into_lines_whatever_the_chunks() -> None:
    splitter = LineSplitter(max_line=16)
    assert splitter.feed(b"nod") == ([], [])
    assert splitter.feed(b"e1\n\n05ab") == ([b"node1", b""], [])
    assert splitter.feed(b"c\n05\n") == ([b"05abc", b"05"], [])


def test_an_oversized_line_is_dropped_whole_and_its_start_kept() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"0a" + b"x" * 20) == ([], [b"0a"])
    assert splitter.feed(b"y" * 30) == ([], [])  # still the same line
    assert splitter.feed(b"zz\n01ok\n") == ([b"01ok"], [])
    assert splitter.feed(b"0b123456789\n02\n") == ([b"02"], [b"0b"])


def test_the_receive_window_suppresses_duplicates() -> None:
    window = ReceiveWindow()
    assert window.accept(0, "first")
    assert window.accept(1, "a")
    assert not window.accept(1, "a")
    assert window.accept(2, "b")
    assert not window.accept(1, "a")


def test_id_0_means_the_peer_restarted_and_clears_the_memory() -> None:
    window = ReceiveWindow()
    for message_id in (0, 1, 2, 3):
        assert window.accept(message_id, "x")
    assert window.accept(0, "after a reboot")
    assert window.accept(1, "a")  # new again


def test_a_retransmitted_first_message_is_a_duplicate_not_a_second_restart() -> None:
    window = ReceiveWindow()
    assert window.accept(0, "hello")
    assert not window.accept(0, "hello")  # its ACK was lost: upstream would take it twice
    assert window.accept(0, "another boot")  # other content: a real restart


def test_ids_reused_after_a_wrap_are_new_again() -> None:
    window = ReceiveWindow()
    message_id = 0
    for _ in range(1000):
        assert window.accept(message_id, "m")
        message_id = next_message_id(message_id)


def test_the_window_survives_a_round_trip_through_its_saved_form() -> None:
    window = ReceiveWindow()
    for message_id in (0, 1, 2):
        window.accept(message_id, "x")
    copy = ReceiveWindow.from_dict(window.as_dict())
    assert not copy.accept(2, "x")
    assert copy.accept(3, "x")


def test_the_challenge_answer() -> None:
    nonce = "00112233445566778899aabbccddeeff"
    assert auth.challenge_line(nonce) == b"?" + nonce.encode() + b"\n"
    answer = auth.response_line("s3cret", "kitchen", nonce)
    assert answer.startswith(b"!") and answer.endswith(b"\n") and len(answer) == 66
    assert auth.response_valid(answer[:-1], "s3cret", "kitchen", nonce)
    assert not auth.response_valid(answer[:-1], "s3cret", "hall", nonce)
    assert not auth.response_valid(answer[:-1], "other", "kitchen", nonce)
    assert not auth.response_valid(b"", "s3cret", "kitchen", nonce)
