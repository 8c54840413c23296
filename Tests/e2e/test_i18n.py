"""The user's language (issue 20): the module speaks the language the PAM application runs in,
and mfa-enroll the user's (LANG), through gettext's text domain pam_mfa; syslog stays English.

The module looks for its catalogs only in the directory compiled into it (make's LOCALEDIR),
never in one an environment variable names: it runs inside sudo and su.  So the tests put the
build's .mo files there for the duration of this file (InstalledCatalogs puts back whatever
was there) and generate de_DE, es_ES and fr_FR locales into a temp directory that pamdrive,
which calls setlocale(LC_ALL, "") like login and su, finds through LOCPATH (honoured because
pamdrive is not setuid; so is mfa-enroll, whose catalogs are in the same directory).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from mfatest.cli import run_cli, secret_path
from mfatest.i18n import (LINGUAS, MARKED, PO, InstalledCatalogs, catalog, cli_sources,
                          compiled_locale_directory, fresh_template, generate_locales, locale_env,
                          module_sources, problems, scratch_directory, string_literals,
                          swift_unescape, translated_sources)
from mfatest.pam import WRONG_MSG, mfa_lines, policy_conf, sarg
from mfatest.totp import code, fresh_step, wrong_code
from mfatest.world import ALICE_UID, PROMPT, REPO


@pytest.fixture(scope="module")
def locales(module_so):
    """Generated locales (for LOCPATH) and the build's catalogs where the module looks."""
    directory = scratch_directory()
    try:
        generate_locales(directory)
        with InstalledCatalogs(compiled_locale_directory(module_so)):
            yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


PROMPTS = {"de": "Bestätigungscode: ", "es": "Código de verificación: ",
           "fr": "Code de vérification : "}


# ---------------------------------------------------------------------------
# the real module, in the application's language
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LINGUAS)
def test_the_prompt_is_in_the_applications_language(env, locales, lang):
    _, secret = env.write_secret()
    env.locale = locale_env(lang, locales)
    run = env.run_pam(sarg(env), answers=[code(secret, fresh_step())])
    assert run.result == "PAM_SUCCESS", str(run)
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPTS[lang])], str(run)


def test_a_wrong_code_and_the_lockout_are_told_in_german_and_logged_in_english(env, locales):
    _, secret = env.write_secret()
    env.locale = locale_env("de", locales)
    args = [sarg(env), "deny=2"]
    first = env.run_pam(args, answers=[wrong_code(secret)])
    assert first.result == "PAM_AUTH_ERR", str(first)
    assert first.messages == [("PROMPT_ECHO_OFF", PROMPTS["de"]), ("ERROR_MSG", "Falscher Code.")], \
        str(first)
    second = env.run_pam(args, answers=[wrong_code(secret)])
    assert second.result == "PAM_AUTH_ERR", str(second)
    assert second.messages[-1] == (
        "ERROR_MSG", "Zu viele falsche Codes. Versuchen Sie es in 5 Minuten erneut."), str(second)
    # Admins grep syslog: it stays English whatever the user's language.
    assert any("lockout: too many failures; locked for 300 s" in line
               for line in mfa_lines(second)), str(second)
    # Locked: told before typing anything, with the time left (plural form for 5).
    third = env.run_pam(args, answers=[])
    assert third.messages == [
        ("ERROR_MSG", "Zu viele falsche Codes. Versuchen Sie es in 5 Minuten erneut.")], str(third)


def test_in_the_c_locale_as_under_sshd_the_module_speaks_english(env, locales):
    """sshd never calls setlocale: its PAM conversation is in C whatever the user's LANG."""
    _, secret = env.write_secret()
    env.locale = {**locale_env("de", locales), "LANG": "C", "LANGUAGE": "de"}
    run = env.run_pam(sarg(env), answers=[wrong_code(secret)])
    assert run.messages == [("PROMPT_ECHO_OFF", PROMPT), WRONG_MSG], str(run)


def test_plural_forms_follow_the_language(env, locales):
    """The form for a count comes from the catalog (its Plural-Forms), not from English."""
    env.locale = locale_env("fr", locales)
    _, secret = env.write_secret()
    args = [sarg(env), "deny=1", "unlock_time=1m"]
    run = env.run_pam(args, answers=[wrong_code(secret)])
    assert run.messages[-1] == ("ERROR_MSG", "Trop de codes incorrects. Réessayez dans 1 minute."), \
        str(run)


def test_the_helper_s_messages_reach_a_screen_locker_in_its_language(desk, locales):
    """mfa_chkcode (setuid, empty environment) sends its messages untranslated; the module,
    in the application's process, renders them in the application's language."""
    secret = desk.enroll("mfalocka")
    result, messages, log = desk.login([wrong_code(secret)], locale=locale_env("de", locales))
    assert result == "PAM_AUTH_ERR", (messages, log)
    assert messages == [("PROMPT_ECHO_OFF", PROMPTS["de"]), ("ERROR_MSG", "Falscher Code.")], messages
    assert any("wrong code (failure 1 of 3)" in line for line in log), log


# ---------------------------------------------------------------------------
# the catalogs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LINGUAS)
def test_every_catalog_is_complete_and_checked(lang):
    po = PO / f"{lang}.po"
    checked = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "untranslated" not in checked.stderr and "fuzzy" not in checked.stderr, checked.stderr
    template = catalog(PO / "pam_mfa.pot")
    entries = catalog(po)
    assert set(entries) == set(template), (set(template) ^ set(entries))
    for key, entry in entries.items():
        assert all(entry.translations) and "fuzzy" not in entry.flags, key


def test_the_template_is_up_to_date_with_the_sources(tmp_path):
    """A message added, changed or removed in the sources without `make pot` fails here."""
    fresh = catalog(fresh_template(tmp_path))
    committed = catalog(PO / "pam_mfa.pot")
    assert set(fresh) == set(committed), {
        "in the sources only": set(fresh) - set(committed),
        "in po/pam_mfa.pot only": set(committed) - set(fresh)}
    assert len(fresh) >= 30
    # xgettext reads Swift with its C lexer: what it extracted is exactly what Swift sees.
    marked = {swift_unescape(lit.text) for path in translated_sources()
              for lit in string_literals(path.read_text()) if lit.calls and lit.calls[-1] in MARKED}
    assert marked == {text for key in fresh for text in key if text is not None}


def test_the_built_catalogs_are_the_ones_make_install_installs():
    text = (REPO / "Makefile").read_text()
    assert "LINGUAS := " + " ".join(LINGUAS) in text
    listed = (REPO / "debian" / "libpam-mfa.install").read_text()
    assert "usr/share/locale/*/LC_MESSAGES/pam_mfa.mo" in listed


# ---------------------------------------------------------------------------
# nothing a user sees goes unmarked
# ---------------------------------------------------------------------------

# Prose in the user-facing sources that only ever reaches syslog (kept in variables or
# arguments before the log call): each was checked by hand.
LOG_ONLY = frozenset({
    # FirstAnswer.Fate.text, for "... with the password; counted once ..." audit lines
    "a right code", "a wrong code", "a wrong backup code", "no code", "an already used code",
    "a locked-out user", "no code asked",
    # ModuleOptions.resolve's "orLogThat" consequence, appended to a syslog line
    "enrollment at login not saved", "refusing every login",
})


def test_every_user_visible_string_of_the_module_is_marked():
    found = []
    for path in module_sources():
        found += problems(str(path.relative_to(REPO)), path.read_text(), LOG_ONLY)
    assert found == [], "\n".join(found)


# Prose in mfa-enroll that is a file's format or a program's, never a message: checked by hand.
CLI_FILE_TEXT = frozenset({
    # the first line of --backup-codes-file
    "# pam_mfa backup codes for @; each works once.\\n",
    # sshd_config lines doctor tells the admin to write, and chronyc's output it reads
    "UsePAM yes", "KbdInteractiveAuthentication yes", "AuthenticationMethods keyboard-interactive",
    "AuthenticationMethods publickey,keyboard-interactive", "Leap status     : Normal",
    # commands doctor tells the admin to type
    "chown root:root ",
})


def test_every_line_mfa_enroll_prints_is_marked():
    """The parts of mfa-enroll done so far (mfatest.i18n.CLI_MARKED); audit lines stay English."""
    found = []
    for path in cli_sources():
        found += problems(str(path.relative_to(REPO)), path.read_text(), CLI_FILE_TEXT)
    assert found == [], "\n".join(found)


def test_the_scanner_catches_an_unmarked_line_of_mfa_enroll():
    path = "Sources/mfa-enroll/Commands/StatusCommand.swift"
    source = (REPO / path).read_text()
    planted = source.replace('field(UserText("Enrolled:"), UserText("yes"))', 'print("Enrolled:      yes")')
    assert planted != source
    found = problems(path, planted)
    assert len(found) == 1 and "without UserText" in found[0], found
    for snippet, reason in {
        'throw CLIError("only root can do this")': "without UserText",
        'Terminal.show(UserText("Saved to \\(path)."))': "one plain literal",
        'static let configuration = CommandConfiguration(abstract: "Show the status.")': "prose",
        '@Flag(help: "With --all: JSON for scripts.") var json = false': "prose",
        'throw ValidationError("--json goes with --all")': "without UserText",
    }.items():
        found = problems(path, "func f() {\n  " + snippet + "\n}\n")
        assert found and all(reason in problem for problem in found), (snippet, found)
    for snippet in ('AuditLog.record("unlock user=" + name + " failures=" + count)',
                    'CommandConfiguration(commandName: "backup-codes")', 'Terminal.showLine([])'):
        assert problems(path, "func f() {\n  " + snippet + "\n}\n") == [], snippet


def test_the_scanner_catches_an_unmarked_string():
    path = "Sources/MFACore/Login/UserLogin.swift"
    planted = {
        'host.tell("Your code expired.", isError: true)': "without UserText",
        'host.prompt("PIN: ", echo: false)': "without UserText",
        'host.tell(UserText("Hello %s.", .verbatim("dear user")), isError: false)': "without UserText",
        'let why = "That code is too old."': "prose",
        'host.tell(UserText("Hello " + "world"), isError: false)': "one plain literal",
        'host.tell(UserText("Hello \\(name)"), isError: false)': "one plain literal",
    }
    for snippet, reason in planted.items():
        found = problems(path, "func f() {\n  " + snippet + "\n}\n")
        assert found and all(reason in problem for problem in found), (snippet, found)
    fine = [
        'host.tell(UserText("Wrong code."), isError: true)',
        'host.tell(.plural("%d try", "%d tries", count: n), isError: true)',
        'host.log(.notice, who + ": wrong code (failure " + String(n) + ")")',
        '// host.tell("a comment is no string", isError: true)',
        'let name = "pam_mfa_first_answer"',
        'host.tell(UserText("Contact %s.", .verbatim(options.contact)), isError: true)',
    ]
    for snippet in fine:
        assert problems(path, "func f() {\n  " + snippet + "\n}\n") == [], snippet
    # Prose outside the user-facing sources (error texts for syslog) is not the scanner's.
    assert problems("Sources/MFACore/System/FileError.swift", 'let x = "cannot open the file"') == []


def test_the_real_sources_with_a_planted_string_fail():
    source = (REPO / "Sources/MFACore/Login/Login+Report.swift").read_text()
    planted = source.replace('host.tell(LoginText.lockedOut(for: left), isError: true)',
                             'host.tell("Locked out.", isError: true)')
    assert planted != source
    found = problems("Sources/MFACore/Login/Login+Report.swift", planted, LOG_ONLY)
    assert len(found) == 1 and "'Locked out.'" in found[0], found


# ---------------------------------------------------------------------------
# mfa-enroll, in the user's language
# ---------------------------------------------------------------------------


def cli(env, *argv, root=False):
    return run_cli(env, *argv, user_uid=None if root else ALICE_UID)


def words(text: str) -> str:
    """ArgumentParser wraps help to the terminal's width: compare the words."""
    return " ".join(text.split())


def test_mfa_enroll_speaks_the_users_language(env, locales):
    env.locale = locale_env("de", locales)
    status = cli(env, "status", "--secret-file", secret_path(env, "missing"))
    assert status.returncode == 0, (status.stdout, status.stderr)
    lines = status.stdout.splitlines()
    assert re.fullmatch(r"Benutzer: +alice", lines[0]), lines
    assert re.fullmatch(r"Eingerichtet: +nein \(mit mfa-enroll einrichten\)", lines[2]), lines
    # Every value starts in one column, after the longest German label.
    assert len({len(ln) - len(ln.split(":", 1)[1].lstrip()) for ln in lines}) == 1, lines
    assert re.fullmatch(r"Letzte Anmeldung: +im nur für root lesbaren Zustand vermerkt "
                        r"\(fragen Sie Ihren Administrator\)", lines[-1]), lines

    refused = cli(env, "--user", "root", "status")
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert refused.stderr == "mfa-enroll: nur root kann für einen anderen Benutzer handeln (--user)\n"

    help = cli(env, "--help")
    assert "Richtet die Zwei-Faktor-Anmeldung (pam_mfa) für Ihr Konto ein." in words(help.stdout), \
        help.stdout
    assert "Für diesen Benutzer statt für Sie selbst handeln (nur root)." in words(help.stdout), \
        help.stdout
    status_help = cli(env, "status", "--help")
    assert "Mit --all: JSON für Skripte." in words(status_help.stdout), status_help.stdout


def test_mfa_enroll_in_the_c_locale_is_english(env, locales):
    env.locale = {**locale_env("de", locales), "LANG": "C", "LANGUAGE": "de"}
    status = cli(env, "status", "--secret-file", secret_path(env, "missing"))
    assert status.stdout.splitlines()[0] == "User:          alice", status.stdout
    refused = cli(env, "--user", "root", "status")
    assert refused.stderr == "mfa-enroll: only root can act for another user (--user)\n"
    assert "Set up two-factor login (pam_mfa) for your account." in words(cli(env, "--help").stdout)


@pytest.mark.parametrize("lang", LINGUAS)
def test_status_all_has_translated_headings_and_english_json(env, locales, lang):
    conf = policy_conf(env)
    env.write_secret()
    env.locale = locale_env(lang, locales)
    table = cli(env, "--config", conf, "status", "--all", root=True)
    assert table.returncode == 0, (table.stdout, table.stderr)
    heading = {"de": "BENUTZER", "es": "USUARIO", "fr": "UTILISATEUR"}[lang]
    assert table.stdout.split()[0] == heading, table.stdout
    row = next(ln.split() for ln in table.stdout.splitlines() if ln.startswith("alice "))
    assert row[1:5] == ["home", "SHA1", "0", {"de": "nein", "es": "no", "fr": "non"}[lang]], table.stdout
    listed = cli(env, "--config", conf, "status", "--all", "--json", root=True)
    alice = next(o for o in json.loads(listed.stdout) if o["user"] == "alice")
    assert (alice["store"], alice["locked"], alice["last_success"]) == ("home", False, None), alice


def test_doctor_reports_in_german_with_its_markers_unchanged(env, locales, tmp_path):
    """The findings are the user's language; ok/WARN/FAIL stay as scripts grep them."""
    pam_dir = tmp_path / "pam.d"
    pam_dir.mkdir()
    tmp_path.chmod(0o755)
    env.locale = locale_env("de", locales)
    run = cli(env, "doctor", "--pam-dir", pam_dir, "--module-dir", tmp_path, "--sshd", tmp_path / "no-sshd",
              "--secret-file", secret_path(env, "missing"))
    lines = run.stdout.splitlines()
    assert f"WARN  {pam_dir}/sshd existiert nicht (kein PAM-Stack für sshd)" in lines, run.stdout
    assert (f"      Abhilfe: installieren Sie openssh-server; fügen Sie dann pam_mfa in {pam_dir}/sshd ein"
            in lines), run.stdout
    assert "WARN  sshd: hier nicht installiert; seine Prüfungen entfallen" in lines, run.stdout
    assert re.fullmatch(r"\d+ Probleme?, \d+ Warnung(en)?\.", lines[-1]), run.stdout
    assert all(ln[:5] in ("ok   ", "WARN ", "FAIL ") for ln in lines[:-2] if ln and not ln.startswith(" ")), \
        run.stdout
