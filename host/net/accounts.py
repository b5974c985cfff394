"""Order-entry accounts: who may log in, as which user id and role.

# Ref: RFC 9106 (Argon2), through argon2-cffi's PasswordHasher.

The exchange keeps its accounts in a JSON file the operator manages with
`gatebook accounts add|list|remove --file F`:

    {"format": 1, "accounts": [
        {"name": "alice", "user_id": 7, "role": "trader", "hash": "$argon2id$..."}]}

Each account has a unique name (at most 16 ASCII characters, the width of the
login's user-name field), a unique nonzero 32-bit user id (the engine's
`user`: orders belong to it), a role (`trader` or `admin`) and an Argon2id
hash of its password; the password itself is never stored. The file is
input like any other: `load` refuses a file that is not exactly this shape
with an `AccountsError` naming what is wrong.
"""

import json
import os
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gatebook.wire import ouch
from gatebook.wire.enums import Role

__all__ = ["Account", "Accounts", "AccountsError", "UNKNOWN_USER", "WRONG_PASSWORD"]

FORMAT = 1
_NAME_WIDTH = ouch.LOGIN_REQUEST.field("username").width
_PASSWORD_WIDTH = ouch.LOGIN_REQUEST.field("password").width
_ROLES = {role.name.lower(): role for role in Role}

# Why a login failed, for the operator's counters; the client sees one reason.
UNKNOWN_USER, WRONG_PASSWORD = "unknown_user", "wrong_password"


class AccountsError(ValueError):
    """An accounts file, or a change to one, that cannot be taken."""


@dataclass(frozen=True)
class Account:
    name:    str
    user_id: int
    role:    Role
    hash:    str

    @property
    def is_admin(self):
        return self.role == Role.ADMIN


class Accounts:
    """The accounts of one file, by name.

    Parameters
    ----------
    accounts : iterable of Account
    hasher : argon2.PasswordHasher, optional
        Makes new hashes (`add`); checking uses the parameters each hash
        carries. By default argon2-cffi's (RFC 9106's low-memory profile).
    """

    def __init__(self, accounts=(), hasher=None):
        self.hasher = hasher or PasswordHasher()
        self.by_name = {}
        for account in accounts:
            self._put(account)
        # A hash to check unknown names against, so an unknown user costs the
        # same time as a wrong password and the two look alike from outside.
        self._decoy = self.hasher.hash("not a password of anyone")

    def __len__(self):
        return len(self.by_name)

    def __iter__(self):
        return iter(sorted(self.by_name.values(), key=lambda account: account.user_id))

    def _put(self, account):
        if account.name in self.by_name:
            raise AccountsError(f"account {account.name!r} is there twice")
        if any(other.user_id == account.user_id for other in self.by_name.values()):
            raise AccountsError(f"user id {account.user_id} belongs to two accounts")
        self.by_name[account.name] = account

    def add(self, name, user_id, role, password):
        """Add an account with the hash of `password`; AccountsError if it cannot be."""
        _check_name(name)
        _check_user_id(user_id)
        if role not in _ROLES:
            raise AccountsError(f"role must be one of {', '.join(_ROLES)}, not {role!r}")
        if not password or len(password.encode()) > _PASSWORD_WIDTH or not password.isascii() \
                or password != password.rstrip(" "):
            raise AccountsError(f"a password is 1 to {_PASSWORD_WIDTH} ASCII characters "
                                "and does not end in a space")
        account = Account(name, user_id, _ROLES[role], self.hasher.hash(password))
        self._put(account)
        return account

    def remove(self, name):
        """Remove the account `name`; AccountsError if there is none."""
        if self.by_name.pop(name, None) is None:
            raise AccountsError(f"no account is named {name!r}")

    def verify(self, name, password):
        """(the Account, None) when `password` is `name`'s, else (None,
        UNKNOWN_USER or WRONG_PASSWORD). Takes as long either way."""
        account = self.by_name.get(name)
        try:
            self.hasher.verify(account.hash if account else self._decoy, password)
        except (VerificationError, InvalidHashError):
            return None, WRONG_PASSWORD if account else UNKNOWN_USER
        return (account, None) if account else (None, UNKNOWN_USER)

    @classmethod
    def load(cls, path, hasher=None):
        """The accounts in the file at `path`; AccountsError saying what is wrong."""
        try:
            with open(path, "rb") as file:
                text = file.read(16 << 20)
            document = json.loads(text)
        except OSError as error:
            raise AccountsError(f"cannot read {path}: {error.strerror or error}") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise AccountsError(f"{path} is not JSON: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT \
                or not isinstance(document.get("accounts"), list):
            raise AccountsError(f"{path} is not a Gatebook accounts file (format {FORMAT})")
        accounts = []
        for index, entry in enumerate(document["accounts"]):
            try:
                accounts.append(_account(entry))
            except AccountsError as error:
                raise AccountsError(f"{path}: account {index}: {error}") from None
        try:
            return cls(accounts, hasher)
        except AccountsError as error:
            raise AccountsError(f"{path}: {error}") from None

    def save(self, path):
        """Write the file (owner read/write only), replacing it in one rename."""
        document = {"format": FORMAT, "accounts": [
            {"name": a.name, "user_id": a.user_id, "role": a.role.name.lower(), "hash": a.hash}
            for a in self]}
        partial = f"{path}.partial"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(document, file, indent=1)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)


def _check_name(name):
    if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable() \
            or len(name) > _NAME_WIDTH or name != name.strip():
        raise AccountsError(f"a name is 1 to {_NAME_WIDTH} printable ASCII characters "
                            f"without leading or trailing spaces, not {name!r}")


def _check_user_id(user_id):
    if type(user_id) is not int or not 0 < user_id < 1 << 32:
        raise AccountsError(f"a user id is a whole number from 1 to {(1 << 32) - 1}, "
                            f"not {user_id!r}")


def _account(entry):
    if not isinstance(entry, dict) or set(entry) != {"name", "user_id", "role", "hash"}:
        raise AccountsError("expected exactly the keys name, user_id, role, hash")
    _check_name(entry["name"])
    _check_user_id(entry["user_id"])
    if entry["role"] not in _ROLES:
        raise AccountsError(f"role must be one of {', '.join(_ROLES)}")
    if not isinstance(entry["hash"], str) or not entry["hash"].startswith("$argon2"):
        raise AccountsError("hash is not an Argon2 hash")
    return Account(entry["name"], entry["user_id"], _ROLES[entry["role"]], entry["hash"])
