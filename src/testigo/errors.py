"""Errors a user can cause or fix. The CLI and the web app show their message, never a traceback."""

from __future__ import annotations


class TestigoError(Exception):
    """Base class: the message says what went wrong and, where possible, what to do."""

    exit_code = 2


class UsageError(TestigoError):
    """The request itself cannot be carried out as asked (bad path, bad option, unknown id)."""


class NotFoundError(TestigoError):
    """Something named by the user does not exist in the vault."""


class RefusedInputError(TestigoError):
    """Input rejected whole: nothing was stored."""


class StorageError(TestigoError):
    """The blob store or database could not complete a write; nothing half-written is referenced."""


class InsufficientSpaceError(StorageError):
    """There is not enough free space to store the file."""


class IntegrityError(TestigoError):
    """Stored evidence or the ledger does not match what was recorded."""

    exit_code = 1


class NotInitializedError(TestigoError):
    """The vault has not been set up; run `testigo init`."""
