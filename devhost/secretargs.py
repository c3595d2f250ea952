"""Secrets never on a command line: every user of the machine reads argv (`ps`, /proc/*/cmdline).

Keys and connection strings come from the environment, local.settings.json or a file only its
owner can read (`--key-file`, like ssh refusing a group-readable private key). The argv forms
are refused with one line naming the replacement, and devhost passes secrets to the processes
it spawns through their environment.
"""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from devhost.startup import StartupError

# Connection-string keys whose value is a credential (storage, SQL, SAS).
CREDENTIAL_KEYS = ("accountkey", "sharedaccesssignature", "pwd", "password", "accesstoken")


def holds_credential(connection_string: str) -> bool:
    keys = (p.split("=", 1)[0].strip().lower() for p in connection_string.split(";") if "=" in p)
    return any(k in CREDENTIAL_KEYS for k in keys)


def refuse_on_argv(value: str | None, option: str, replacement: str) -> None:
    """One line, exit 2 (StartupError), when a secret was given on the command line."""
    if value:
        raise StartupError(
            f"{option} on the command line is visible to every user of this machine (ps); "
            f"{replacement}"
        )


def read_secret_file(path: str, what: str) -> str:
    """The secret in `path` (surrounding whitespace dropped); the file must be mode 600."""
    try:
        info = Path(path).stat()
    except OSError as exc:
        raise StartupError(f"cannot read the {what} file {path}: {exc.strerror}") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(f"the {what} file {path} can be read by other users: chmod 600 {path}")
    value = Path(path).read_text(encoding="utf-8-sig").strip()
    if not value:
        raise StartupError(f"the {what} file {path} is empty")
    return value


def secret_from(file: str | None, env: str, what: str) -> str | None:
    """A secret from its file option, else from the environment variable, else None."""
    if file:
        return read_secret_file(file, what)
    return os.environ.get(env) or None


KEY_ENV = "DEVHOST_KEY"


def key_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", help=argparse.SUPPRESS)  # refused: argv is public
    p.add_argument(
        "--key-file", metavar="FILE", help="file (mode 600) holding the key (or $DEVHOST_KEY)"
    )


def resolve_secrets(args: argparse.Namespace) -> None:
    """Secrets from files or the environment; their argv forms refused (StartupError)."""
    if "key_file" in args and args.command != "monitor":
        refuse_on_argv(args.key, "--key", f"set ${KEY_ENV} or use --key-file FILE (mode 600)")
        args.key = secret_from(args.key_file, KEY_ENV, "key")
    if "storage_connection_string" in args:
        value = args.storage_connection_string
        if value and holds_credential(value):
            refuse_on_argv(
                value,
                "--storage-connection-string with an account key",
                "set AzureWebJobsStorage in the environment or local.settings.json, or use "
                "--storage-connection-string-file FILE (mode 600)",
            )
        if args.storage_connection_string_file:
            args.storage_connection_string = read_secret_file(
                args.storage_connection_string_file, "storage connection string"
            )
