"""Real local users for the bench's sshd logins and nullok rounds (sshd checks passwords with
pam_unix against /etc/shadow, and the modules look for files in real homes).

Made with the e2e helpers' create_user (useradd -m, a random password; a left-over of a killed
earlier run is removed first) and removed with their homes by delete_user (userdel -r) when the
`with` block ends, also on failure."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
from pathlib import Path

from benchutil import e2e_helpers

ENROLLED = "mfabench1"      # pam_mfa's and google-authenticator's files in the home
NOT_ENROLLED = "mfabench0"  # neither: the nullok path


class RealUsers(contextlib.AbstractContextManager):
    def __init__(self):
        self.passwords: dict[str, str] = {}

    def __enter__(self) -> RealUsers:
        e2e_helpers()
        from mfatest.system import create_user  # noqa: E402 (Tests/e2e, only now)
        try:
            for name in (ENROLLED, NOT_ENROLLED):
                self.passwords[name] = create_user(name)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        from mfatest.system import delete_user  # noqa: E402
        for name in (NOT_ENROLLED, ENROLLED):
            error = delete_user(name)
            if error:
                print(f"bench: {error}", flush=True)
        return None

    @staticmethod
    def entry(name: str) -> pwd.struct_passwd:
        return pwd.getpwnam(name)

    def home(self, name: str) -> Path:
        return Path(self.entry(name).pw_dir)

    def put(self, name: str, relative: str, text: str, mode: int) -> Path:
        """A file of the user's in the home (directories made 0700, all owned by the user)."""
        e = self.entry(name)
        path = d = self.home(name)
        for part in Path(relative).parts[:-1]:
            d = d / part
            if not d.exists():
                d.mkdir(mode=0o700)
                os.chown(d, e.pw_uid, e.pw_gid)
        path = path / relative
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chown(path, e.pw_uid, e.pw_gid)
        os.chmod(path, mode)
        return path

    @staticmethod
    def keep(path: Path, pristine: Path) -> None:
        """A copy of the user's file outside the home (owner and mode kept), to put back with
        benchutil.restore."""
        shutil.copy2(path, pristine)
        st = os.stat(path)
        os.chown(pristine, st.st_uid, st.st_gid)
