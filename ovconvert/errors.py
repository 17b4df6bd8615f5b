"""Errors sorted by who can fix them; each maps to one documented exit code.

    0  success
    1  ValidationFailed  the IR was produced but does not agree with the framework
    2  UserError         bad input (recipe, path, flag): the message names the fix
    3  ToolError         TensorFlow, mo or a download failed: the message carries the tool's own words
   70  InternalError     a bug in ovconvert: the traceback is printed, please report it
"""

import threading

EXIT_OK = 0
EXIT_VALIDATION_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_TOOL_ERROR = 3
EXIT_INTERNAL_ERROR = 70


class OvconvertError(Exception):
    exit_code = EXIT_INTERNAL_ERROR

    def one_line(self) -> str:
        return " ".join(str(self).split())


class UserError(OvconvertError):
    """The input is wrong; the message says what and how to fix it."""

    exit_code = EXIT_USER_ERROR


class ToolError(OvconvertError):
    """An external tool (TensorFlow, mo, OpenVINO, the network) failed."""

    exit_code = EXIT_TOOL_ERROR

    def __init__(self, message: str, log_tail: str = ""):
        super().__init__(message)
        self.log_tail = log_tail

    def one_line(self) -> str:
        line = super().one_line()
        tail = " | ".join(part.strip() for part in self.log_tail.strip().splitlines()[-3:] if part.strip())
        return f"{line} (log tail: {tail})" if tail else line


class ValidationFailed(OvconvertError):
    """The IR disagrees with the framework beyond the recipe's tolerance."""

    exit_code = EXIT_VALIDATION_FAILED


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that it unwinds as it does for Ctrl-C: a running mo is
    killed with its process group, nothing half-written is left, and the exit code is 143."""


# Set by the SIGTERM handler (cli.main) before it raises Terminated. Python drops an exception raised
# while a __del__ method or a weakref callback runs ("Exception ignored in …"), and TensorFlow's objects
# run many of them, so a SIGTERM that lands in one is lost: `aocr train` killed while it scanned its
# records once went on to train. Long commands call stop_if_terminated() between their phases.
SIGTERM_RECEIVED = threading.Event()


def stop_if_terminated() -> None:
    """Raise Terminated if a SIGTERM arrived whose exception may have been swallowed."""
    if SIGTERM_RECEIVED.is_set():
        raise Terminated()
