"""Order-entry accounts: the file, its hashes, `gatebook accounts`, and bad files refused
with a sentence."""

import io
import json
import os
import stat

import pytest

from gatebook.cli import main
from gatebook.wire.enums import Role
from gatebook.host.net.accounts import UNKNOWN_USER, WRONG_PASSWORD, Accounts, AccountsError

from ouch_login import CHEAP_HASHER


def test_add_list_remove_with_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "accounts.json")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["accounts", "add", "alice", "--user-id", "7", "--file", path,
                 "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("root-pw\n"))
    assert main(["accounts", "add", "ops", "--user-id", "1", "--role", "admin", "--file", path,
                 "--password-stdin"]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as file:
        text = file.read()
    assert "s3cret" not in text and "$argon2id$" in text
    capsys.readouterr()
    assert main(["accounts", "list", "--file", path]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split() == ["ops", "1", "admin"] and listed[2].split() == ["alice", "7",
                                                                                 "trader"]
    accounts = Accounts.load(path)
    assert accounts.verify("alice", "s3cret")[0].role == Role.TRADER
    assert accounts.verify("alice", "wrong") == (None, WRONG_PASSWORD)
    assert accounts.verify("bob", "s3cret") == (None, UNKNOWN_USER)
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert main(["accounts", "add", "alice2", "--user-id", "7", "--file", path,
                 "--password-stdin"]) == 2
    assert "user id 7 belongs to two accounts" in capsys.readouterr().err
    assert main(["accounts", "remove", "alice", "--file", path]) == 0
    assert main(["accounts", "remove", "alice", "--file", path]) == 2
    assert [a.name for a in Accounts.load(path)] == ["ops"]


def test_the_password_never_comes_from_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["accounts", "add", "alice", "--user-id", "7", "--file", str(tmp_path / "a"),
              "--password", "s3cret"])
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("content, complaint", [
    (b"\xff\xfe", "is not JSON"),
    (b"[]", "is not a Gatebook accounts file"),
    (b'{"format": 2, "accounts": []}', "is not a Gatebook accounts file"),
    (b'{"format": 1, "accounts": [{"name": "a"}]}', "account 0: expected exactly the keys"),
    (b'{"format": 1, "accounts": [{"name": "a", "user_id": 0, "role": "trader", "hash": "$argon2id$x"}]}',
     "a user id is a whole number"),
    (b'{"format": 1, "accounts": [{"name": "a", "user_id": true, "role": "trader", "hash": "$argon2id$x"}]}',
     "a user id is a whole number"),
    (b'{"format": 1, "accounts": [{"name": "a", "user_id": 1, "role": "root", "hash": "$argon2id$x"}]}',
     "role must be one of"),
    (b'{"format": 1, "accounts": [{"name": "a", "user_id": 1, "role": "admin", "hash": "plain"}]}',
     "hash is not an Argon2 hash"),
    (b'{"format": 1, "accounts": [{"name": "' + b"x" * 17 + b'", "user_id": 1, "role": "admin", '
     b'"hash": "$argon2id$x"}]}', "a name is 1 to 16"),
    (b'{"format": 1, "accounts": ['
     b'{"name": "a", "user_id": 1, "role": "admin", "hash": "$argon2id$x"},'
     b'{"name": "a", "user_id": 2, "role": "admin", "hash": "$argon2id$x"}]}', "there twice"),
])
def test_a_bad_file_is_refused_with_a_sentence(tmp_path, content, complaint):
    path = tmp_path / "accounts.json"
    path.write_bytes(content)
    with pytest.raises(AccountsError, match=complaint):
        Accounts.load(str(path))


def test_a_missing_file_and_a_damaged_hash(tmp_path):
    with pytest.raises(AccountsError, match="cannot read"):
        Accounts.load(str(tmp_path / "none.json"))
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"format": 1, "accounts": [
        {"name": "a", "user_id": 1, "role": "trader", "hash": "$argon2id$garbage"}]}))
    assert Accounts.load(str(path), CHEAP_HASHER).verify("a", "x") == (None, WRONG_PASSWORD)


def test_gatebook_run_needs_a_readable_accounts_file(tmp_path, capsys):
    assert main(["run", "--accounts", str(tmp_path / "none.json"), "--seconds", "0"]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--seconds", "0"])
    assert "--accounts" in capsys.readouterr().err
