"""Helpers of the pam_mfa end-to-end tests, one module per subject; the tests import from here,
never from each other (fixtures are in ../conftest.py).

world      built files (staged), test tools, fake users' ids, the service and the prompt
totp       codes from oathtool, time steps
secretfile secret files: writing them, parsing them, backup-code hashes and printed codes
pam        one test's world (Env, nss_wrapper users, pamdrive runs) and what a run shows
state      the state file, parsed independently of the module
cli        running mfa-enroll: on a pipe, under a tty, reading its URI
system     real users, clean environments, commands, pexpect conversations, dpkg
sshd       a private OpenSSH server on 127.0.0.1
qr         QR pictures from text and zbarimg
desk       the setuid helper's world: /dev/log capture, real users, pam_mfa.conf
ldapdir    a private slapd (also used by Tests/Bench/bench.py)
"""
