"""The commands (one module each), and one error style for all of them: a user error is one `error:`
line naming the key or path, exit 2, Hydra's own composition errors included.

`HYDRA_FULL_ERROR=1` re-raises with the traceback instead. Errors from Hydra's `instantiate` are
unwrapped to the constructor's own message.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import hydra
from hydra.errors import ConfigCompositionException, InstantiationException, OverrideParseException
from hydra.experimental.callback import Callback
from omegaconf.errors import MissingMandatoryValue

from colorlab.core.config import CONFIG_DIR

USER_ERROR = 2
# What a bad setting, path or file raises in colorlab: the message names the key or the path.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,  # FileNotFoundError, NotADirectoryError, PermissionError, ...
    MissingMandatoryValue,
)


class UserError(ValueError):
    """A setting or input the user can fix; the message says which and how."""


def user_error(err: BaseException) -> BaseException | None:
    """The user error inside `err` (itself, or what Hydra's instantiate wrapped), else None."""
    seen = 0
    while isinstance(err, InstantiationException) and err.__cause__ is not None and seen < 5:
        err, seen = err.__cause__, seen + 1
    return err if isinstance(err, (*USER_ERRORS, UserError)) else None


_user_verbose: bool | None = None  # HYDRA_FULL_ERROR as the user set it (hydra_errors_exit sets it for Hydra)


def verbose() -> bool:
    """Whether the user asked for tracebacks (HYDRA_FULL_ERROR=1)."""
    if _user_verbose is not None:
        return _user_verbose
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def report(err: BaseException) -> None:
    """Print `err` as one `error:` line on stderr."""
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"error: {message}", file=sys.stderr)


F = TypeVar("F", bound=Callable[..., Any])


def user_errors_exit(fn: F) -> F:
    """Decorate a command's body: user errors become one `error:` line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            found = user_error(err)
            if found is None or verbose():
                raise
            report(found)
            sys.exit(USER_ERROR)

    return wrapper  # type: ignore[return-value]


QUOTING_HINT = (
    "a value with special characters (= , [ ] ' spaces, non-ASCII, a newline) must be quoted for Hydra: "
    "put the override in double quotes and the value in single quotes, e.g. \"input='my, photo.jpg'\""
)


def hydra_message(err: BaseException) -> str:
    """Hydra's own composition or parsing error as one line, with its cause and, for a value Hydra's
    override parser refused, how to quote it."""
    text = str(err).split("Config search path")[0]
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({str(cause).splitlines()[0]})"
    if isinstance(err, OverrideParseException):
        text += f"; {QUOTING_HINT}"
    elif "Key 'data' is not in struct" in text:
        text += "; choose a data source first (data=folder data.root=..., data=sample, ...)"
    return " ".join(text.split())


def hydra_errors_exit(fn: F) -> F:
    """Decorate a command's `@hydra.main` function: Hydra's own errors (a key that does not exist, an
    unknown config choice, an override it cannot parse) become one `error:` line and exit 2 too."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _user_verbose
        _user_verbose = verbose()
        previous = os.environ.get("HYDRA_FULL_ERROR")
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing a report of its own
        try:
            return fn(*args, **kwargs)
        except (ConfigCompositionException, OverrideParseException) as err:
            if _user_verbose:
                raise
            print(f"error: {hydra_message(err)}", file=sys.stderr)
            sys.exit(USER_ERROR)
        finally:
            if previous is None:
                os.environ.pop("HYDRA_FULL_ERROR", None)
            else:
                os.environ["HYDRA_FULL_ERROR"] = previous
            _user_verbose = None

    return wrapper  # type: ignore[return-value]


def writable_folder_problem(folder: str) -> str | None:
    """Why `folder` cannot be created or written (None when it can): checks its nearest existing ancestor."""
    from pathlib import Path

    path = Path(folder).expanduser().absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


class CheckOutputFolder(Callback):
    """A Hydra callback: refuse an unwritable run or sweep folder with one `error:` line (exit 2)
    before Hydra creates it and configures its log file (which would fail with a traceback)."""

    def _check(self, folder: Any, key: str) -> None:
        problem = writable_folder_problem(str(folder))
        if problem is not None and not verbose():
            print(f"error: {key}={folder}: cannot write the run folder there ({problem})", file=sys.stderr)
            sys.exit(USER_ERROR)

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")


def command(config_name: str) -> Callable[[F], F]:
    """A command's entry point: `@command("train") def main(cfg): ...` is Hydra's main on
    conf/<config_name>.yaml with both error styles: Hydra's own errors and the user's become one
    `error:` line, exit 2."""

    def wrap(fn: F) -> F:
        main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(user_errors_exit(fn))
        return hydra_errors_exit(main)

    return wrap
