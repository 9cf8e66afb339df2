"""Signed checkpoints at least every 10 seconds while a capture is live."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from testigo.capture import pacer, service
from testigo.capture.views import effective_status
from testigo.vault import ledger
from testigo.vault.service import Vault

from .conftest import sha


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tree_and_checkpoint(vault: Vault) -> tuple[int, int]:
    with vault.reading() as session:
        latest = ledger.latest_checkpoint(session)
        assert latest is not None
        return ledger.tree_size(session), latest.tree_size


def test_checkpoint_cadence_with_a_simulated_clock(vault: Vault, opened: tuple[str, str]) -> None:
    clock = FakeClock()
    paced = pacer.CheckpointPacer(vault, interval=10.0, clock=clock, background=False)
    assert not paced.tick()  # nothing appended: nothing to sign
    offset = 0
    signed_at: list[float] = []
    for second in range(0, 60, 2):  # a chunk every 2 s for a minute
        clock.now = 1000.0 + second
        data = f"chunk {second}".encode()
        service.append_chunk(
            vault,
            opened[0],
            opened[1],
            index=second // 2,
            offset=offset,
            data=data,
            sha256_header=sha(data),
        )
        offset += len(data)
        paced.note_append()
        for step in (0.0, 1.0):  # the background thread ticks every second
            clock.now = 1000.0 + second + step
            if paced.tick():
                signed_at.append(clock.now)
                size, signed = tree_and_checkpoint(vault)
                assert signed == size  # the checkpoint covers every acknowledged chunk
    gaps = [b - a for a, b in zip([1000.0, *signed_at], signed_at, strict=False)]
    assert signed_at and max(gaps) <= 10.0
    assert paced.checkpoints == len(signed_at) >= 5


def test_background_thread_signs_while_live(vault: Vault, opened: tuple[str, str]) -> None:
    data = b"a live chunk"
    service.append_chunk(
        vault, opened[0], opened[1], index=0, offset=0, data=data, sha256_header=sha(data)
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        size, signed = tree_and_checkpoint(vault)
        if signed == size:
            break
        time.sleep(0.1)
    assert signed == size


def test_silent_session_is_shown_stopped_and_revived_by_a_chunk(
    vault: Vault, opened: tuple[str, str]
) -> None:
    data = b"first"
    service.append_chunk(
        vault, opened[0], opened[1], index=0, offset=0, data=data, sha256_header=sha(data)
    )
    row = service.get_session(vault, opened[0])
    later = datetime.now(UTC) + timedelta(seconds=120)
    assert effective_status(row, later) == "stopped"
    assert pacer.mark_stopped(vault, later) == 1
    assert service.get_session(vault, opened[0]).status == "stopped"
    more = b"second"
    service.append_chunk(
        vault, opened[0], opened[1], index=1, offset=5, data=more, sha256_header=sha(more)
    )
    assert service.get_session(vault, opened[0]).status == "live"
