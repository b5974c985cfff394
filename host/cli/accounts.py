"""`gatebook accounts add|list|remove --file F`: the order-entry accounts file."""

import getpass
import os
import sys

from ..net.accounts import Accounts, AccountsError

__all__ = ["register"]


def register(subparsers):
    parser = subparsers.add_parser(
        "accounts", help="add, list or remove order-entry accounts (`gatebook run --accounts`)",
        description="Manages the accounts file `gatebook run --accounts FILE` checks logins "
                    "against: a name, a user id (orders belong to it), a role (trader, or "
                    "admin: halts, resumes, kill switch, end of day, anyone's mass cancel) and "
                    "an Argon2id hash of the password. Passwords are read from a prompt, or "
                    "from stdin with --password-stdin; never from the command line.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add an account (the file is created if need be)")
    add.add_argument("name", help="user name (1 to 16 ASCII characters)")
    add.add_argument("--user-id", type=int, required=True, help="numeric user id, 1 to 2^32-1")
    add.add_argument("--role", choices=("trader", "admin"), default="trader")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of stdin")
    listing = actions.add_parser("list", help="list the accounts (no hashes)")
    remove = actions.add_parser("remove", help="remove an account")
    remove.add_argument("name")
    for sub in (add, listing, remove):
        sub.add_argument("--file", required=True, metavar="FILE", help="the accounts file")
    parser.set_defaults(run=run_accounts)


def _password(args):
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise AccountsError("the two passwords differ")
    return first


def run_accounts(args):
    try:
        if args.action == "add" and not os.path.exists(args.file):
            accounts = Accounts()
        else:
            accounts = Accounts.load(args.file)
        if args.action == "list":
            print(f"{'name':16s} {'user id':>10s}  role")
            for account in accounts:
                print(f"{account.name:16s} {account.user_id:10d}  {account.role.name.lower()}")
            return 0
        if args.action == "add":
            accounts.add(args.name, args.user_id, args.role, _password(args))
            what = f"added {args.name} (user id {args.user_id}, {args.role})"
        else:
            accounts.remove(args.name)
            what = f"removed {args.name}"
        accounts.save(args.file)
    except (AccountsError, OSError) as error:
        print(f"gatebook accounts: {error}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("gatebook accounts: no password given", file=sys.stderr)
        return 2
    print(f"accounts: {what} in {args.file}")
    return 0
